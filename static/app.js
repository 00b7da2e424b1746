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
    // A choice to make while confirming (when a rotated token stops).
    var choices = $("#confirm-choices", dialog);
    $all("label", choices).forEach(function (l) { l.remove(); });
    var choice = options.choices;
    choices.hidden = !choice;
    if (choice) {
      $("#confirm-choices-legend", dialog).textContent = choice.legend;
      choice.options.forEach(function (o, i) {
        var label = document.createElement("label");
        var radio = document.createElement("input");
        radio.type = "radio";
        radio.name = "confirm-choice";
        radio.value = o.value;
        radio.checked = i === 0;
        label.appendChild(radio);
        label.appendChild(document.createTextNode(" " + o.label));
        choices.appendChild(label);
      });
    }
    var chosen = function () {
      var picked = $("input[name=confirm-choice]:checked", choices);
      return choice && picked ? { name: choice.name, value: picked.value } : null;
    };
    var ok = $("#confirm-ok", dialog);
    var cancel = $("#confirm-cancel", dialog);
    ok.textContent = options.action || "Confirm";
    var opener = document.activeElement;
    var close = function (confirmed) {
      ok.onclick = cancel.onclick = dialog.oncancel = null;
      dialog.close();
      if (confirmed) {
        onConfirm(chosen());
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
    var choices = null;
    if (el.dataset.confirmChoices) {
      try { choices = JSON.parse(el.dataset.confirmChoices); } catch (err) { choices = null; }
    }
    return {
      title: el.dataset.confirmTitle,
      text: el.dataset.confirmText,
      action: el.dataset.confirmAction,
      choices: choices,
      items: items || (el.dataset.confirmItems ? [el.dataset.confirmItems] : [])
    };
  }

  function addField(form, name, value) {
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    field.value = value;
    form.appendChild(field);
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
        confirmWith(optionsOf(form), function (choice) {
          addConfirm(form);
          if (choice) addField(form, choice.name, choice.value);
          form.dataset.confirmed = "1";
          form.submit();
        });
      });
    });
    // A button of another form that posts elsewhere (a row's Rotate): the
    // dialog, then a form of its own with confirm=yes.
    $all("button[formaction][data-confirm-title]:not([hx-post])", root).forEach(function (button) {
      if (button.dataset.ready) return;
      button.dataset.ready = "1";
      button.addEventListener("click", function (e) {
        e.preventDefault();
        confirmWith(optionsOf(button), function (choice) {
          var form = document.createElement("form");
          form.method = "post";
          form.action = button.getAttribute("formaction");
          var csrf = $("input[name=csrf_token]", button.form || document);
          if (csrf) addField(form, "csrf_token", csrf.value);
          addField(form, "confirm", "yes");
          if (choice) addField(form, choice.name, choice.value);
          document.body.appendChild(form);
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
      var bar = $(".bulk-bar", form);
      if (bar) bar.classList.toggle("has-selection", checked > 0);
      if (all) {
        var total = boxes().length;
        all.hidden = total === 0;
        all.checked = total > 0 && checked === total;
        all.indeterminate = checked > 0 && checked < total;
      }
    };
    if (all) {
      all.hidden = boxes().length === 0;
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
      // Beside the date where there is room (data-local="inline"); in a
      // table's narrow cell, in its tooltip.
      if (el.dataset.local === "inline") {
        var span = document.createElement("span");
        span.className = "local-time";
        span.textContent = " · " + text + " your time";
        el.appendChild(span);
      } else {
        el.title = (el.title ? el.title + " · " : "") + text + " your time";
      }
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
    // A filtered or paged list: say how many tokens it shows now.
    var config = e.detail && e.detail.requestConfig;
    var count = document.getElementById("token-count");
    if (config && config.verb === "get" && target && target.id === "token-list") {
      var empty = target.querySelector(".empty h2");
      announce(count ? count.textContent : empty ? empty.textContent : "");
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
