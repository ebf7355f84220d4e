// Small progressive enhancements; everything works without them. No inline scripts (CSP).
"use strict";

(function () {
  // A webinar's title loads its attendees into the slot below it (htmx). Clicking it again
  // while the list is open closes the list instead of loading it a second time.
  document.addEventListener("htmx:confirm", function (evt) {
    const toggle = evt.detail.elt;
    if (!toggle.matches("[data-attendees-toggle]") || toggle.getAttribute("aria-expanded") !== "true") {
      return;
    }
    evt.preventDefault();
    const slot = document.getElementById(toggle.getAttribute("aria-controls"));
    if (slot) {
      slot.replaceChildren();
    }
    toggle.setAttribute("aria-expanded", "false");
  });

  // The list's filters leave out what is not chosen ("all event types", "all hosts"), so that
  // the address they push names only the filters in use.
  document.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt.matches || !evt.detail.elt.matches("form.filters")) {
      return;
    }
    for (const name of ["type", "host"]) {
      if (evt.detail.parameters[name] === "") {
        delete evt.detail.parameters[name];
      }
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    const slot = evt.detail.target;
    if (!slot.classList || !slot.classList.contains("attendees-slot")) {
      return;
    }
    const toggle = document.querySelector('[aria-controls="' + slot.id + '"]');
    if (toggle) {
      toggle.setAttribute("aria-expanded", "true");
    }
  });

  // An attendee's line opens its answers (and time zone, reasons) in the row below it.
  document.addEventListener("click", function (evt) {
    const toggle = evt.target.closest("[data-details-toggle]");
    if (!toggle) {
      return;
    }
    const details = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!details) {
      return;
    }
    const open = toggle.getAttribute("aria-expanded") !== "true";
    details.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // A sync that changed something reloads the webinar list; the attendee lists the admin had
  // open are opened again in the fresh list (a sync that changed nothing reloads nothing).
  let reopen = [];
  document.addEventListener("htmx:beforeSwap", function (evt) {
    const list = evt.detail.target;
    const cause = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    if (list.id !== "webinar-list" || !cause || cause.type !== "syncFinished") {
      return;
    }
    reopen = Array.from(
      list.querySelectorAll('[data-attendees-toggle][aria-expanded="true"]'),
      function (toggle) { return toggle.getAttribute("aria-controls"); }
    );
  });

  // Only the list's own settle: by then htmx has processed the fresh toggles (another swap,
  // like the panel's poll, can settle in between and would click toggles htmx does not know yet).
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "webinar-list") {
      return;
    }
    const ids = reopen;
    reopen = [];
    ids.forEach(function (id) {
      const toggle = document.querySelector('[data-attendees-toggle][aria-controls="' + id + '"]');
      if (toggle && toggle.getAttribute("aria-expanded") !== "true") {
        htmx.trigger(toggle, "click");
      }
    });
  });

  // htmx does not swap error responses; say that something went wrong instead of doing nothing.
  let toastTimer = null;
  function showToast(message) {
    const toast = document.getElementById("toast");
    if (!toast) {
      return;
    }
    toast.textContent = message;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      toast.hidden = true;
    }, 8000);
  }

  document.addEventListener("htmx:responseError", function (evt) {
    const toast = document.getElementById("toast");
    const status = evt.detail.xhr ? evt.detail.xhr.status : "?";
    showToast((toast.dataset.messageFailed || "Request failed ({status})").replace("{status}", status));
  });

  document.addEventListener("htmx:sendError", function () {
    const toast = document.getElementById("toast");
    showToast(toast.dataset.messageOffline || "The server cannot be reached.");
  });

  document.addEventListener("click", function (evt) {
    if (evt.target.id === "toast") {
      evt.target.hidden = true;
    }
  });
})();
