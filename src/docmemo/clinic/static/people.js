// The add-a-person form: choosing a role shows that role's fields at once. The other
// roles' fields are hidden and their fieldsets disabled (a disabled fieldset's
// controls are not posted). Without this script the "Continue" button reloads the
// page with ?role=, and the server renders the same thing.
(function () {
  "use strict";
  var picker = document.getElementById("people-role");
  var form = document.getElementById("people-form");
  if (!picker || !form) {
    return;
  }
  var roleInput = document.getElementById("people-form-role");
  var noun = document.getElementById("people-submit-noun");

  function show(radio) {
    var role = radio.value;
    roleInput.value = role;
    form.querySelectorAll("[data-role]").forEach(function (part) {
      var chosen = part.getAttribute("data-role") === role;
      part.hidden = !chosen;
      if (part.tagName === "FIELDSET") {
        part.disabled = !chosen;
      }
    });
    noun.textContent = radio.getAttribute("data-noun");
    // Reloading (or going back to) the page keeps the role.
    var url = new URL(window.location.href);
    url.searchParams.set("role", role);
    window.history.replaceState(null, "", url);
  }

  document.getElementById("people-continue").hidden = true;
  // A browser may restore another choice than the page was rendered for (reload, back).
  var checked = picker.querySelector('input[name="role"]:checked');
  if (checked && checked.value !== roleInput.value) {
    show(checked);
  }
  picker.addEventListener("change", function (event) {
    if (event.target.name === "role") {
      show(event.target);
    }
  });
  // Enter in the role group would submit the GET form and lose what was typed.
  picker.addEventListener("submit", function (event) {
    event.preventDefault();
  });
})();
