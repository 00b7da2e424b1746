// Progressive enhancement for the console. Every page works without it:
// confirmations are pages of their own, dates are shown in UTC.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Say something to screen readers (a live region outside the swaps).
  function announce(message) {
    var region = document.getElementById("announcer");
    if (!region || !message) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = message; }, 50);
  }

  // ---- Confirmation dialog: lists what will change, Cancel has focus. ----
  function confirmWith(options, onConfirm) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return onConfirm(); // the server's own confirmation page stays reachable
    }
    $("#confirm-title", dialog).textContent = options.title || "Are you sure?";
    $("#confirm-text", dialog).textContent = options.text || "";
    var list = $("#confirm-items", dialog);
    list.innerHTML = "";
    (options.items || []).forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    });
    list.hidden = list.children.length === 0;
    var ok = $("#confirm-ok", dialog);
    var cancel = $("#confirm-cancel", dialog);
    ok.textContent = options.action || "Confirm";
    var opener = document.activeElement;
    var close = function (confirmed) {
      ok.onclick = cancel.onclick = dialog.oncancel = null;
      dialog.close();
      if (confirmed) {
        onConfirm();
      } else if (opener && opener.focus) {
        opener.focus();
      }
    };
    ok.onclick = function () { close(true); };
    cancel.onclick = function () { close(false); };
    dialog.oncancel = function (e) { e.preventDefault(); close(false); };
    dialog.showModal();
    cancel.focus();
  }

  function optionsOf(el, items) {
    return {
      title: el.dataset.confirmTitle,
      text: el.dataset.confirmText,
      action: el.dataset.confirmAction,
      items: items || (el.dataset.confirmItems ? [el.dataset.confirmItems] : [])
    };
  }

  // htmx buttons with hx-confirm: our dialog instead of window.confirm().
  document.addEventListener("htmx:confirm", function (e) {
    var el = e.detail.elt;
    if (!el || !el.hasAttribute("hx-confirm")) return;
    e.preventDefault();
    confirmWith(optionsOf(el), function () { e.detail.issueRequest(true); });
  });

  // Plain forms that ask first (disable a member): the dialog, then the
  // form is sent with confirm=yes.
  function setupConfirmForms(root) {
    $all("form[data-confirm-title]", root).forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.addEventListener("submit", function (e) {
        if (form.dataset.confirmed) return;
        e.preventDefault();
        confirmWith(optionsOf(form), function () {
          addConfirm(form);
          form.dataset.confirmed = "1";
          form.submit();
        });
      });
    });
  }

  function addConfirm(form) {
    if ($("input[name=confirm]", form)) return;
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = "confirm";
    field.value = "yes";
    form.appendChild(field);
  }

  // ---- Copy buttons (the one-time token, a new member's password). ----
  function setupCopy(root) {
    $all("[data-copy]", root).forEach(function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.dataset.copy);
        var status = document.getElementById(button.dataset.copyStatus || "copy-status");
        if (!target) return;
        var text = target.textContent.trim();
        var done = function () {
          button.textContent = "Copied";
          if (status) status.textContent = button.dataset.copied || "Token copied to the clipboard.";
        };
        var fallback = function () {
          var range = document.createRange();
          range.selectNodeContents(target);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          try { document.execCommand("copy"); done(); }
          catch (e) { if (status) status.textContent = "Press Ctrl+C to copy the selected text."; }
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  // ---- The list: select all, "Revoke selected (N)" shown when ticked. ----
  function setupBulk(root) {
    var form = $("#bulk-form", root) || (root && root.id === "bulk-form" ? root : null);
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var all = $("#select-all", form);
    var button = $("#revoke-selected", form);
    var boxes = function () { return $all("input[name=ids]", form); };
    var checkedBoxes = function () { return boxes().filter(function (b) { return b.checked; }); };
    var update = function () {
      var checked = checkedBoxes().length;
      if (button) {
        button.textContent = "Revoke selected (" + checked + ")";
        button.disabled = checked === 0;
        button.hidden = checked === 0;
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
      if (form.dataset.confirmed) return;
      e.preventDefault();
      var chosen = checkedBoxes();
      if (chosen.length === 0) return;
      var count = chosen.length;
      confirmWith({
        title: count === 1 ? "Revoke 1 token?" : "Revoke " + count + " tokens?",
        text: (count === 1 ? "It stops" : "They stop") + " working at once: anything that uses " +
          (count === 1 ? "it" : "them") + " is refused. This cannot be undone.",
        action: count === 1 ? "Revoke 1 token" : "Revoke " + count + " tokens",
        items: chosen.map(function (b) { return b.dataset.name || b.value; })
      }, function () {
        addConfirm(form);
        form.dataset.confirmed = "1";
        if (typeof form.requestSubmit === "function") form.requestSubmit(button); else form.submit();
      });
    });
    update();
  }

  // ---- Expiry: one radio group; typing a date chooses "On a date". ----
  function setupExpiry(root) {
    var date = $("#expires_on", root);
    var custom = $("#expires_in-custom", root);
    if (!date || !custom || date.dataset.ready) return;
    date.dataset.ready = "1";
    date.addEventListener("input", function () { if (date.value) custom.checked = true; });
    $all("input[name=expires_in]", root).forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio !== custom && radio.checked) date.value = "";
        if (radio === custom && radio.checked) date.focus();
      });
    });
  }

  // ---- Local time beside UTC, where a <time data-local> says when. ----
  function setupLocalTimes(root) {
    $all("time[data-local]", root).forEach(function (el) {
      if (el.dataset.ready) return;
      el.dataset.ready = "1";
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime()) || when.getTimezoneOffset() === 0) return;
      var text = when.toLocaleString(undefined, {
        weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
      });
      var span = document.createElement("span");
      span.className = "local-time";
      span.textContent = " · " + text + " your time";
      el.appendChild(span);
    });
  }

  function setup(root) {
    setupCopy(root);
    setupBulk(root);
    setupExpiry(root);
    setupConfirmForms(root);
    setupLocalTimes(root);
  }

  document.addEventListener("DOMContentLoaded", function () { setup(document); });

  // After a swap: focus the result, name the page, say what happened.
  document.addEventListener("htmx:afterSettle", function (e) {
    setup(document);
    var target = e.target;
    var invalid = target && target.querySelector && target.querySelector("[aria-invalid=true]");
    if (invalid) {
      invalid.focus();
      invalid.scrollIntoView({ block: "center" });
      announce("The form has errors; the first is focused.");
      return;
    }
    var landmark = target && target.querySelector && target.querySelector("[data-title]");
    if (landmark) {
      document.title = landmark.dataset.title + " · Latchkey";
      announce(landmark.dataset.announce);
      var heading = landmark.querySelector("h1, h2");
      if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
      window.scrollTo(0, 0);
    }
  });

  // A revoked row: focus its status, say what changed.
  document.addEventListener("latchkey:announce", function (e) {
    announce(e.detail && e.detail.value);
    var row = e.target && e.target.closest ? e.target.closest("tr") : null;
    window.setTimeout(function () {
      var status = row && row.id ? document.querySelector("#" + row.id + " .status") : null;
      if (status) { status.setAttribute("tabindex", "-1"); status.focus(); }
    }, 50);
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
    announce(flash.textContent);
    flash.scrollIntoView({ block: "nearest" });
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var flash = document.getElementById("flash");
    if (flash) flash.innerHTML = "";
  });
})();
