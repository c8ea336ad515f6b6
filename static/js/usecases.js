// P2P Sandbox: the steps that write a use case, enhanced. Loaded by those pages only; each works
// without this script.
//
// Step 2: each answer's Markdown preview follows the typing (debounced, rendered by the server
// as the use case will show it), fields with a character limit count their characters, and
// outcome-metric rows are added and removed in place (a removed row is marked DELETE for the
// formset and hidden, so the row numbers the server expects stay as they are).
//
// Step 3: chosen files are previewed before upload (object URLs, revoked when the choice
// changes), and the attachment list turns ready live. The personal stream of messaging.js
// (loaded on every page) passes on its events as "p2p:stream" DOM events; this page applies
// the `media_ready` ones of its use case: {"type": "media_ready", "event_id": N, "media_id": 7,
// "use_case_id": 3, "status": "ready" | "failed", "kind": "image" | "video" | "pdf",
// "failure_reason": ""}. Each time the stream is live again it also reloads the list over
// HTTP, so an event sent while it was not is not missed.
//
// Text from people is set with textContent; the only HTML inserted is the server's sanitized
// preview and its own page.
(function () {
  "use strict";

  var PREVIEW_DELAY_MS = 400;
  var PREVIEWABLE_IMAGES = /^image\/(jpeg|png|webp)$/;

  var language = document.documentElement.lang || undefined;
  var numberFormat = new Intl.NumberFormat(language);

  // ---- Helpers ------------------------------------------------------------------------------

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) {
      return input.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function interpolate(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function fileSize(bytes) {
    if (bytes >= 1024 * 1024) {
      return numberFormat.format(Math.round((bytes / (1024 * 1024)) * 10) / 10) + " MB";
    }
    if (bytes >= 1024) {
      return numberFormat.format(Math.round(bytes / 1024)) + " KB";
    }
    return numberFormat.format(bytes) + " B";
  }

  // ---- Live Markdown previews ---------------------------------------------------------------

  function setUpPreviews(root) {
    var strings = root.dataset;
    var url = strings.previewUrl;
    var answers = root.querySelectorAll("[data-answer]");
    if (!url || answers.length === 0) {
      return;
    }
    // The previews follow the typing: the server-side "Preview" button is not needed.
    root.querySelectorAll("[data-preview-all]").forEach(function (button) {
      button.hidden = true;
    });

    answers.forEach(function (answer) {
      var textarea = answer.querySelector("textarea[data-markdown]");
      var panel = answer.querySelector("[data-preview]");
      var body = panel && panel.querySelector("[data-preview-body]");
      if (!textarea || !body) {
        return;
      }
      var timer = null;
      var latest = 0;

      function show(html, message) {
        body.textContent = "";
        if (message) {
          body.appendChild(element("p", "muted", message));
        } else {
          body.innerHTML = html;
        }
        panel.hidden = false;
      }

      function render() {
        var text = textarea.value;
        if (!text.trim()) {
          latest += 1;
          body.textContent = "";
          panel.hidden = true;
          return;
        }
        var request = (latest += 1);
        var data = new URLSearchParams();
        data.set("content", text);
        fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
          body: data,
        })
          .then(function (response) {
            return response.json().then(function (reply) {
              if (request !== latest) {
                return; // a newer text is on its way
              }
              if (response.ok) {
                show(reply.html);
              } else {
                show("", reply.detail || strings.stringFailed);
              }
            });
          })
          .catch(function () {
            if (request === latest) {
              show("", strings.stringFailed);
            }
          });
      }

      textarea.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(render, PREVIEW_DELAY_MS);
      });
      if (textarea.value.trim() && panel.hidden) {
        render();
      }
    });
  }

  // ---- Character counters -------------------------------------------------------------------

  function setUpCounters(root) {
    var template = root.dataset.stringCharacters;
    if (!template) {
      return;
    }
    root.querySelectorAll("[data-counter][maxlength]").forEach(function (input) {
      var max = parseInt(input.getAttribute("maxlength"), 10);
      if (isNaN(max)) {
        return;
      }
      var counter = element("p", "char-counter");
      counter.setAttribute("data-counter-for", input.name);
      input.insertAdjacentElement("afterend", counter);

      function update() {
        var count = input.value.length;
        counter.textContent = interpolate(template, {
          count: numberFormat.format(count),
          max: numberFormat.format(max),
        });
        counter.classList.toggle("is-near-limit", count >= max * 0.9);
      }

      input.addEventListener("input", update);
      update();
    });
  }

  // ---- Outcome-metric rows ------------------------------------------------------------------

  function setUpMetrics(root) {
    var rows = root.querySelector("[data-metric-rows]");
    var template = root.querySelector("template[data-metric-template]");
    var addButton = root.querySelector("[data-add-metric]");
    var total = root.querySelector("input[name$='-TOTAL_FORMS']");
    var maxTotal = root.querySelector("input[name$='-MAX_NUM_FORMS']");
    if (!rows || !template || !addButton || !total) {
      return;
    }
    var maxShown = parseInt(rows.dataset.max, 10) || 20;
    // The server refuses more rows than this in all (deleted ones count too).
    var absoluteMax = maxShown * 2;

    function shownRows() {
      return rows.querySelectorAll("[data-metric-row]:not([hidden])").length;
    }

    function refresh() {
      addButton.disabled =
        shownRows() >= maxShown || parseInt(total.value, 10) >= absoluteMax;
    }

    function remove(row) {
      var checkbox = row.querySelector("input[type=checkbox][name$='-DELETE']");
      if (checkbox) {
        checkbox.checked = true;
      }
      row.hidden = true;
      refresh();
      addButton.focus();
    }

    function enhance(row) {
      var label = row.querySelector("[data-delete-label]");
      var button = row.querySelector("[data-remove-metric]");
      var checkbox = row.querySelector("input[type=checkbox][name$='-DELETE']");
      if (checkbox && checkbox.checked) {
        row.hidden = true;
      }
      if (label && button) {
        label.hidden = true;
        button.hidden = false;
        button.addEventListener("click", function () {
          remove(row);
        });
      }
    }

    function add() {
      var index = parseInt(total.value, 10);
      var fragment = template.content.cloneNode(true);
      fragment.querySelectorAll("*").forEach(function (node) {
        Array.prototype.forEach.call(node.attributes, function (attribute) {
          if (attribute.value.indexOf("__prefix__") !== -1) {
            node.setAttribute(attribute.name, attribute.value.replace(/__prefix__/g, index));
          }
        });
      });
      var row = fragment.querySelector("[data-metric-row]");
      rows.appendChild(fragment);
      total.value = String(index + 1);
      enhance(row);
      refresh();
      var first = row.querySelector("input:not([type=hidden]):not([type=checkbox])");
      if (first) {
        first.focus();
      }
    }

    rows.querySelectorAll("[data-metric-row]").forEach(enhance);
    addButton.hidden = false;
    addButton.addEventListener("click", add);
    if (maxTotal) {
      maxShown = Math.min(maxShown, parseInt(maxTotal.value, 10) || maxShown);
    }
    refresh();
  }

  // ---- Files chosen for upload --------------------------------------------------------------

  function setUpUploadPreviews(root) {
    var input = root.querySelector("input[type=file][data-upload]");
    var list = root.querySelector("[data-upload-previews]");
    if (!input || !list || typeof URL.createObjectURL !== "function") {
      return;
    }
    var urls = [];

    input.addEventListener("change", function () {
      urls.forEach(function (url) {
        URL.revokeObjectURL(url);
      });
      urls = [];
      list.textContent = "";
      Array.prototype.forEach.call(input.files, function (file) {
        var item = element("li", "submission-upload__preview");
        var thumb = element("span", "submission-upload__thumb");
        var extension = (file.name.split(".").pop() || "").toUpperCase();
        if (PREVIEWABLE_IMAGES.test(file.type)) {
          var url = URL.createObjectURL(file);
          urls.push(url);
          var image = element("img");
          image.alt = "";
          // Not an image after all (a renamed file): the server will refuse it too.
          image.addEventListener("error", function () {
            thumb.textContent = extension;
            item.classList.add("is-not-image");
          });
          image.src = url;
          thumb.appendChild(image);
        } else {
          thumb.textContent = extension;
        }
        item.appendChild(thumb);
        item.appendChild(element("span", "submission-upload__name", file.name));
        item.appendChild(element("span", "submission-upload__size muted", fileSize(file.size)));
        list.appendChild(item);
      });
      list.hidden = input.files.length === 0;
    });
  }

  // ---- Attachments turning ready ------------------------------------------------------------

  function setUpLiveMedia(root) {
    var list = root.querySelector("[data-media-list]");
    var useCaseId = parseInt(root.dataset.useCaseId, 10);
    if (!list || isNaN(useCaseId)) {
      return;
    }
    var strings = list.dataset;
    var live = { stopped: false };

    function mediaUrl(id, variant) {
      return strings.urlPattern.replace("{id}", id).replace("{variant}", variant);
    }

    function pendingItems() {
      return list.querySelectorAll("[data-media-id][data-status=pending]");
    }

    function setStatus(item, status) {
      item.classList.remove("is-" + item.getAttribute("data-status"));
      item.classList.add("is-" + status);
      item.setAttribute("data-status", status);
      var label = item.querySelector("[data-media-status]");
      var text = { ready: strings.stringReady, failed: strings.stringFailed }[status];
      if (label && text) {
        label.textContent = text;
      }
    }

    function apply(event) {
      if (event.use_case_id !== useCaseId) {
        return;
      }
      var item = list.querySelector('[data-media-id="' + event.media_id + '"]');
      if (!item || item.getAttribute("data-status") !== "pending") {
        return;
      }
      setStatus(item, event.status);
      if (event.status === "ready") {
        if (event.kind === "image") {
          var thumb = item.querySelector("[data-media-thumb]");
          var image = element("img");
          image.src = mediaUrl(event.media_id, "small");
          image.alt = "";
          thumb.textContent = "";
          thumb.appendChild(image);
        }
        var name = item.querySelector("[data-media-name]");
        if (name && !name.querySelector("a")) {
          var link = element("a", "", name.textContent.trim());
          link.href = mediaUrl(event.media_id, "original");
          name.textContent = "";
          name.appendChild(link);
        }
      } else if (event.status === "failed") {
        var reason = item.querySelector("[data-media-failure]");
        if (reason) {
          reason.textContent = event.failure_reason || "";
          reason.hidden = !event.failure_reason;
        }
      }
      stopWhenDone();
    }

    // The list as the server has it now, for the items still pending here.
    function catchUp() {
      if (pendingItems().length === 0) {
        return;
      }
      fetch(window.location.pathname, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          // DOMParser runs no script.
          var fresh = new DOMParser().parseFromString(html, "text/html");
          pendingItems().forEach(function (item) {
            var id = item.getAttribute("data-media-id");
            var current = fresh.querySelector('[data-media-list] [data-media-id="' + id + '"]');
            if (current && current.getAttribute("data-status") !== "pending") {
              item.replaceWith(document.importNode(current, true));
            }
          });
          stopWhenDone();
        })
        .catch(function () {});
    }

    function stopWhenDone() {
      if (pendingItems().length === 0 && !live.stopped) {
        live.stopped = true;
        root.setAttribute("data-live-state", "done");
      }
    }

    // The personal stream of messaging.js brings `media_ready`; whenever it is (again) live, the
    // list is read over HTTP too, for what was sent while it was not.
    function follow(state) {
      if (live.stopped) {
        return;
      }
      root.setAttribute("data-live-state", state);
      if (state === "live") {
        catchUp();
      }
    }

    if (pendingItems().length === 0) {
      return;
    }
    document.addEventListener("p2p:stream", function (received) {
      if (!live.stopped && received.detail.type === "media_ready") {
        apply(received.detail);
      }
    });
    document.addEventListener("p2p:stream-state", function (changed) {
      follow(changed.detail);
    });
    follow(document.documentElement.getAttribute("data-stream-state") || "connecting");
  }

  // ---- Start --------------------------------------------------------------------------------

  function start() {
    var root = document.querySelector("[data-submission-page]");
    if (!root) {
      return;
    }
    setUpPreviews(root);
    setUpCounters(root);
    setUpMetrics(root);
    setUpUploadPreviews(root);
    setUpLiveMedia(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
