// Progressive enhancement for the console. Every page works without it.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Copy the one-time token to the clipboard.
  function setupCopy(root) {
    $all("[data-copy]", root).forEach(function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.dataset.copy);
        var status = document.getElementById("copy-status");
        if (!target) return;
        var text = target.textContent.trim();
        var done = function () {
          button.textContent = "Copied";
          if (status) status.textContent = "Token copied to the clipboard.";
        };
        var fallback = function () {
          var range = document.createRange();
          range.selectNodeContents(target);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          try { document.execCommand("copy"); done(); }
          catch (e) { if (status) status.textContent = "Press Ctrl+C to copy the selected token."; }
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  // Select all / Revoke selected (N) / confirmation for the bulk form.
  function setupBulk(root) {
    var form = $("#bulk-form", root) || (root && root.id === "bulk-form" ? root : null);
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var all = $("#select-all", form);
    var button = $("#revoke-selected", form);
    var boxes = function () { return $all("input[name=ids]", form); };
    var update = function () {
      var checked = boxes().filter(function (b) { return b.checked; }).length;
      if (button) {
        button.textContent = "Revoke selected (" + checked + ")";
        button.disabled = checked === 0;
      }
      if (all) {
        var total = boxes().length;
        all.checked = total > 0 && checked === total;
        all.indeterminate = checked > 0 && checked < total;
      }
    };
    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes().forEach(function (b) { b.checked = all.checked; });
        update();
      });
    }
    form.addEventListener("change", function (e) {
      if (e.target && e.target.name === "ids") update();
    });
    form.addEventListener("submit", function (e) {
      var submitter = e.submitter;
      if (submitter && submitter.id !== "revoke-selected") return;
      var checked = boxes().filter(function (b) { return b.checked; }).length;
      var message = checked === 1
        ? "Revoke 1 token? It stops working at once."
        : "Revoke " + checked + " tokens? They stop working at once.";
      if (checked === 0 || !window.confirm(message)) {
        e.preventDefault();
        return;
      }
      var confirmField = document.createElement("input");
      confirmField.type = "hidden";
      confirmField.name = "confirm";
      confirmField.value = "yes";
      form.appendChild(confirmField);
    });
    update();
  }

  // Show the custom date only when "Custom…" is chosen.
  function setupExpiry(root) {
    var select = $("#expires_in", root);
    var custom = $("#custom-date", root);
    if (!select || !custom || select.dataset.ready) return;
    select.dataset.ready = "1";
    var update = function () { custom.hidden = select.value !== "custom"; };
    select.addEventListener("change", function () {
      update();
      if (select.value === "custom") $("#expires_on", custom).focus();
    });
    update();
  }

  function setup(root) {
    setupCopy(root);
    setupBulk(root);
    setupExpiry(root);
  }

  document.addEventListener("DOMContentLoaded", function () { setup(document); });
  document.addEventListener("htmx:afterSettle", function (e) {
    setup(document);
    // A form that came back with errors: take the person to the first one.
    var invalid = e.target && e.target.querySelector && e.target.querySelector("[aria-invalid=true]");
    if (invalid) {
      invalid.focus();
      invalid.scrollIntoView({ block: "center" });
    } else if (e.target && e.target.id === "token-form-area") {
      window.scrollTo(0, 0);
    }
  });

  // Errors answered to htmx requests are shown in the flash area.
  document.addEventListener("htmx:responseError", function (e) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var xhr = e.detail.xhr;
    var ct = xhr.getResponseHeader("Content-Type") || "";
    if (ct.indexOf("text/html") === 0 && xhr.responseText.length < 2000) {
      flash.innerHTML = xhr.responseText;
    } else {
      flash.textContent = "Something went wrong (" + xhr.status + "). Nothing was changed.";
    }
    flash.focus && flash.scrollIntoView({ block: "nearest" });
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var flash = document.getElementById("flash");
    if (flash) flash.innerHTML = "";
  });
})();
