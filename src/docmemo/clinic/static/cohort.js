// The cohort page's live counts: as the threshold and the age range move, ask the
// API's own /count_over and /count_under (same origin), show the answers in the
// page's live region, move the chart's threshold line, and keep the URL shareable.
// Without this script the page is a GET form that does the same on submit.
"use strict";

(function () {
  const form = document.getElementById("cohort-form");
  if (!form) {
    return;
  }
  const slider = form.elements.namedItem("mmse");
  const output = document.getElementById("threshold-value");
  const ageInputs = {
    min_age: form.elements.namedItem("min_age"),
    max_age: form.elements.namedItem("max_age"),
  };
  const ageLabels = { min_age: "youngest age", max_age: "oldest age" };
  const region = document.getElementById("cohort-counts");
  const svg = document.getElementById("cohort-svg");
  const DEBOUNCE_MS = 150;
  let timer = null;
  let latest = 0; // the number of the newest request: older answers are dropped

  // --- messages beside the fields, as the server writes them (_fields.html) ---

  function setError(input, message) {
    const id = input.id + "-error";
    let note = document.getElementById(id);
    const described = (input.getAttribute("aria-describedby") || "")
      .split(" ")
      .filter((token) => token && token !== id);
    if (message) {
      if (!note) {
        note = document.createElement("p");
        note.className = "error";
        note.id = id;
        input.insertAdjacentElement("afterend", note);
      }
      note.textContent = message;
      input.setAttribute("aria-invalid", "true");
      described.push(id);
    } else {
      if (note) {
        note.remove();
      }
      input.removeAttribute("aria-invalid");
    }
    if (described.length) {
      input.setAttribute("aria-describedby", described.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }

  // An age field's value: a whole number, null when empty, or undefined with its
  // message shown (the words of clinic/forms.py parse_int).
  function readAge(name) {
    const input = ageInputs[name];
    const text = input.value.trim();
    const low = Number(input.min);
    const high = Number(input.max);
    if (input.validity.badInput || (text !== "" && !/^-?\d+$/.test(text))) {
      setError(input, `The ${ageLabels[name]} must be a whole number, like ${low + 1}.`);
      return undefined;
    }
    if (text === "") {
      setError(input, "");
      return null;
    }
    const value = Number(text);
    if (value < low || value > high) {
      setError(input, `The ${ageLabels[name]} must be between ${low} and ${high}.`);
      return undefined;
    }
    setError(input, "");
    return value;
  }

  function readControls() {
    const threshold = Number(slider.value);
    setError(slider, "");
    const youngest = readAge("min_age");
    const oldest = readAge("max_age");
    if (youngest === undefined || oldest === undefined) {
      return null;
    }
    if (youngest !== null && oldest !== null && youngest > oldest) {
      setError(ageInputs.max_age, form.dataset.ageOrderMessage);
      return null;
    }
    return { threshold, youngest, oldest };
  }

  // --- what the page shows ---

  function ageWords(youngest, oldest) {
    if (youngest !== null && oldest !== null) {
      return youngest === oldest ? `aged ${youngest}` : `aged ${youngest} to ${oldest}`;
    }
    if (youngest !== null) {
      return `aged ${youngest} or over`;
    }
    if (oldest !== null) {
      return `aged ${oldest} or under`;
    }
    return "of any age";
  }

  function showCount(which, count) {
    document.getElementById(`count-${which}`).textContent = count.toLocaleString("en-US");
    document.getElementById(`count-${which}-noun`).textContent =
      count === 1 ? "patient" : "patients";
  }

  // The numbers and their threshold change together, once the answers are in: the
  // live region then reads out one consistent sentence per change.
  function showCounts(threshold, over, under, ages) {
    for (const span of region.querySelectorAll(".js-threshold")) {
      span.textContent = String(threshold);
    }
    showCount("over", over);
    showCount("under", under);
    document.getElementById("count-ages").textContent = ages;
  }

  function showNoCounts() {
    for (const which of ["over", "under"]) {
      document.getElementById(`count-${which}`).textContent = "–";
    }
    document.getElementById("count-ages").textContent =
      "No counts until the values are corrected.";
  }

  function drawChart(controls) {
    if (!svg) {
      return;
    }
    const { threshold, youngest, oldest } = controls;
    const top = Number(svg.dataset.plotTop);
    const row = Number(svg.dataset.row);
    const topScore = Number(svg.dataset.topScore);
    const y = String(top + (topScore - threshold + 0.5) * row);
    const line = document.getElementById("cohort-threshold");
    line.setAttribute("y1", y);
    line.setAttribute("y2", y);
    for (const bar of svg.querySelectorAll(".cohort-bar")) {
      const score = Number(bar.dataset.mmse);
      bar.classList.toggle("is-over", score > threshold);
      bar.classList.toggle("is-at", score === threshold);
      bar.classList.toggle("is-under", score < threshold);
    }
    for (const column of svg.querySelectorAll(".cohort-column")) {
      const outside =
        (youngest !== null && Number(column.dataset.oldest) < youngest) ||
        (oldest !== null && Number(column.dataset.youngest) > oldest);
      column.classList.toggle("is-outside", outside);
    }
  }

  function query(controls, withThreshold) {
    const params = new URLSearchParams();
    if (withThreshold) {
      params.set("mmse", String(controls.threshold));
    }
    if (controls.youngest !== null) {
      params.set("min_age", String(controls.youngest));
    }
    if (controls.oldest !== null) {
      params.set("max_age", String(controls.oldest));
    }
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  async function count(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error(`${response.status} from ${url}`);
    }
    return (await response.json()).count;
  }

  async function update() {
    const controls = readControls();
    if (!controls) {
      latest += 1; // an answer still on its way is for values no longer shown
      region.removeAttribute("aria-busy");
      showNoCounts();
      return;
    }
    const summary = document.getElementById("cohort-form-error");
    if (summary) {
      summary.remove(); // the server's "some values are not valid": they are now
    }
    drawChart(controls);
    history.replaceState(null, "", `${location.pathname}${query(controls, true)}`);
    const request = ++latest;
    const bounds = query(controls, false);
    region.setAttribute("aria-busy", "true");
    try {
      const [over, under] = await Promise.all([
        count(`${form.dataset.countOverUrl}${controls.threshold}${bounds}`),
        count(`${form.dataset.countUnderUrl}${controls.threshold}${bounds}`),
      ]);
      if (request !== latest) {
        return;
      }
      showCounts(
        controls.threshold,
        over,
        under,
        ageWords(controls.youngest, controls.oldest),
      );
    } catch {
      // The registry did not answer (503, say): no stale number next to new values.
      if (request === latest) {
        showNoCounts();
        document.getElementById("count-ages").textContent =
          "The counts could not be updated just now; try again in a moment.";
      }
    } finally {
      if (request === latest) {
        region.removeAttribute("aria-busy");
      }
    }
  }

  function soon() {
    output.textContent = slider.value;
    clearTimeout(timer);
    timer = setTimeout(update, DEBOUNCE_MS);
  }

  form.addEventListener("input", soon);
  // Enter in a field, or the button: the numbers now, without leaving the page.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    update();
  });
  // The numbers follow the controls by themselves now.
  document.getElementById("cohort-submit").hidden = true;
})();
