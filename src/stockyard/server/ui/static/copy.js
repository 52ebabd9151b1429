// Stockyard web UI: copy buttons for the commands on a page. The only script of the UI, loaded
// from /ui/static under the CSP's `script-src 'self'`; nothing inline, no HTML built from strings.
// Without it the pages work the same: the buttons stay hidden and a click selects the command.
"use strict";
(function () {
  var COPIED_MS = 2000;

  function copyWithSelection(text) {
    // For pages served over plain http to another host, where navigator.clipboard is missing.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return copyWithSelection(text);
      });
    }
    return copyWithSelection(text);
  }

  function show(button, label, state) {
    var status = button.querySelector(".copy-label");
    if (status) status.textContent = label;
    button.setAttribute("data-state", state);
    window.clearTimeout(button._stockyardTimer);
    button._stockyardTimer = window.setTimeout(function () {
      if (status) status.textContent = "Copy";
      button.removeAttribute("data-state");
    }, COPIED_MS);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    var command = button.closest(".command");
    var code = command ? command.querySelector("code") : null;
    if (!code) return;
    copy(code.textContent).then(
      function () { show(button, "Copied", "copied"); },
      function () {
        // The browser refused: select the command so that Ctrl+C copies it.
        window.getSelection().selectAllChildren(code);
        show(button, "Press Ctrl+C", "failed");
      }
    );
  });

  function reveal() {
    var buttons = document.querySelectorAll("button.copy[hidden]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
