// The start page's search as you type: 150 ms after the last keystroke, ask
// /app/search for the results of what is typed (cancelling the request before it),
// swap them in, say in the live region how many people were found, and keep the
// URL shareable. Arrow keys go from the box to the results and between them; Enter
// opens one. Without this script the page is a GET form that does the same on Enter.
"use strict";

(function () {
  const form = document.querySelector("form.search-form");
  if (!form) {
    return;
  }
  const input = form.elements.namedItem("q");
  const results = document.getElementById("search-results");
  const status = document.getElementById("search-status");
  const DEBOUNCE_MS = 150;
  let timer = null;
  let controller = null;
  let latest = 0; // the number of the newest search: an older answer is dropped
  let shown = input.value; // the query whose results are on the page

  function pageUrl(query) {
    const url = new URL(form.action, window.location.href);
    if (query.trim()) {
      url.searchParams.set("q", query);
    }
    return url;
  }

  function say(message) {
    status.textContent = message;
  }

  async function search(query) {
    const mine = ++latest;
    if (controller) {
      controller.abort();
    }
    controller = new AbortController();
    const url = new URL(form.dataset.resultsUrl, window.location.href);
    url.searchParams.set("q", query);
    results.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, {
        signal: controller.signal,
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.redirected) {
        // The session has ended: the page itself goes through the sign-in page and
        // comes back to this search.
        window.location.assign(pageUrl(query));
        return;
      }
      if (!response.ok) {
        say(
          response.status === 503
            ? "The registry does not answer just now. Try again in a few moments."
            : "This search could not be done. Try again."
        );
        return;
      }
      const html = await response.text();
      if (mine !== latest) {
        return;
      }
      const template = document.createElement("template");
      template.innerHTML = html;
      results.replaceChildren(template.content);
      const body = results.querySelector("[data-status]");
      say(body ? body.dataset.status : "");
      shown = query;
      window.history.replaceState(null, "", pageUrl(query));
    } catch (error) {
      if (error.name !== "AbortError") {
        say("The search could not reach the registry. Check the connection and try again.");
      }
    } finally {
      if (mine === latest) {
        results.removeAttribute("aria-busy");
      }
    }
  }

  function searchSoon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      if (input.value !== shown) {
        search(input.value);
      }
    }, DEBOUNCE_MS);
  }

  function links() {
    return Array.from(results.querySelectorAll("a[href]"));
  }

  input.addEventListener("input", searchSoon);

  form.addEventListener("submit", (event) => {
    // Enter: search at once, and stay in the box.
    event.preventDefault();
    window.clearTimeout(timer);
    search(input.value);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      const first = links()[0];
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });

  results.addEventListener("keydown", (event) => {
    const all = links();
    const at = all.indexOf(document.activeElement);
    if (at < 0) {
      return;
    }
    if (event.key === "ArrowDown" && at < all.length - 1) {
      event.preventDefault();
      all[at + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (at > 0 ? all[at - 1] : input).focus();
    } else if (event.key === "Escape") {
      input.focus();
    }
  });
})();
