// P2P Sandbox: the personal stream (/ws/messaging/) of a signed-in user, loaded on every page.
//
// One socket per tab. It reconnects with capped, fully jittered exponential backoff and, on
// every (re)connect, sends {"type": "resume", "last_event_id": N} with the id of the last stored
// event this tab applied, so nothing sent while it was away is lost. A stored event (event_id
// not null) is applied once, in order: one at or below the last applied id is a replayed copy
// and is dropped. Ephemeral events (typing, unread counts) apply as they come.
//
// Handlers: the header counts everywhere; the inbox, a conversation and the notifications list
// on their pages. The pages work without this script; with it they update live. Text from
// people is set with textContent; the only HTML inserted is a message's content_html, which the
// server sanitized.
(function () {
  "use strict";

  var SOCKET_PATH = "/ws/messaging/";
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_CAP_MS = 30000;
  // A resume that gets no answer in this time means a broken socket: start over.
  var RESUME_TIMEOUT_MS = 10000;
  var TYPING_SEND_INTERVAL_MS = 3000;
  var TYPING_SHOWN_MS = 5000;
  var SEND_RETRIES = 3;
  // Close codes after which reconnecting cannot help: signed out, unverified, session ended.
  var FINAL_CLOSE_CODES = [4001, 4401, 4403];

  var handlers = {};

  function on(type, handler) {
    (handlers[type] = handlers[type] || []).push(handler);
  }

  // Handlers of this script first, then any other script of the page, which listens for
  // "p2p:stream" on the document (detail: the event) and "p2p:stream-state" (detail: the state).
  function emit(type, event) {
    (handlers[type] || []).forEach(function (handler) {
      handler(event);
    });
    document.dispatchEvent(new CustomEvent("p2p:stream", { detail: event }));
  }

  // ---- The socket ---------------------------------------------------------------------------

  var stream = {
    socket: null,
    lastEventId: null,
    resuming: false,
    held: [],
    missing: null,
    attempt: 0,
    reconnectTimer: null,
    resumeTimer: null,
    stopped: false,
  };

  function initialEventId() {
    var holder = document.querySelector("[data-last-event-id]");
    if (!holder) {
      return null; // adopt the head the server announces in `ready`
    }
    var value = parseInt(holder.getAttribute("data-last-event-id"), 10);
    return isNaN(value) ? 0 : value;
  }

  // "connecting", "live" (caught up and receiving) or "offline", on <html data-stream-state>.
  function setState(value) {
    document.documentElement.setAttribute("data-stream-state", value);
    document.dispatchEvent(new CustomEvent("p2p:stream-state", { detail: value }));
  }

  function isOpen() {
    return stream.socket !== null && stream.socket.readyState === WebSocket.OPEN;
  }

  function send(message) {
    if (!isOpen()) {
      return false;
    }
    stream.socket.send(JSON.stringify(message));
    return true;
  }

  function connect() {
    if (stream.stopped || stream.socket !== null) {
      return;
    }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + SOCKET_PATH);
    } catch (error) {
      scheduleReconnect();
      return;
    }
    stream.socket = socket;
    setState("connecting");
    socket.addEventListener("message", function (message) {
      if (socket !== stream.socket) {
        return;
      }
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      receive(event);
    });
    socket.addEventListener("close", function (closed) {
      if (socket !== stream.socket) {
        return;
      }
      stream.socket = null;
      stream.resuming = false;
      stream.held = [];
      clearTimeout(stream.resumeTimer);
      setState("offline");
      if (FINAL_CLOSE_CODES.indexOf(closed.code) !== -1) {
        stream.stopped = true;
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (stream.stopped) {
      return;
    }
    // Full jitter: anywhere between 0 and the capped exponential ceiling.
    var ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * Math.pow(2, stream.attempt));
    stream.attempt += 1;
    clearTimeout(stream.reconnectTimer);
    stream.reconnectTimer = setTimeout(connect, Math.random() * ceiling);
  }

  function reconnectNow() {
    if (stream.socket === null && !stream.stopped) {
      clearTimeout(stream.reconnectTimer);
      stream.attempt = 0;
      connect();
    }
  }

  function resume() {
    if (stream.resuming || !isOpen()) {
      return;
    }
    stream.resuming = true;
    send({ type: "resume", last_event_id: stream.lastEventId || 0 });
    clearTimeout(stream.resumeTimer);
    stream.resumeTimer = setTimeout(function () {
      if (stream.resuming && stream.socket !== null) {
        stream.socket.close();
      }
    }, RESUME_TIMEOUT_MS);
  }

  function apply(event) {
    stream.lastEventId = event.event_id;
    emit(event.type, event);
  }

  // Applies held events in order while they follow on from the last one applied. A gap left
  // after that (a live copy overtook its predecessor) is asked for again, once: a gap that a
  // resume did not fill means this tab cannot trust its state, and the page reloads it.
  function applyHeld() {
    stream.held.sort(function (a, b) {
      return a.event_id - b.event_id;
    });
    while (stream.held.length > 0) {
      var next = stream.held[0];
      if (next.event_id <= stream.lastEventId) {
        stream.held.shift();
      } else if (next.event_id === stream.lastEventId + 1) {
        apply(stream.held.shift());
      } else if (stream.missing === stream.lastEventId + 1) {
        stream.lastEventId = stream.held[stream.held.length - 1].event_id;
        stream.held = [];
        emit("resync", {});
      } else {
        stream.missing = stream.lastEventId + 1;
        resume();
        return;
      }
    }
    stream.missing = null;
  }

  function receive(event) {
    if (event.event_id === null || event.event_id === undefined) {
      receiveControl(event);
      return;
    }
    if (stream.lastEventId === null || event.event_id <= stream.lastEventId) {
      return;
    }
    if (stream.resuming || event.event_id !== stream.lastEventId + 1) {
      stream.held.push(event);
      resume();
      return;
    }
    apply(event);
  }

  function receiveControl(event) {
    switch (event.type) {
      case "ready":
        if (stream.lastEventId === null) {
          stream.lastEventId = event.last_event_id || 0;
        }
        stream.resuming = false;
        resume();
        break;
      case "resumed":
        stream.resuming = false;
        clearTimeout(stream.resumeTimer);
        stream.attempt = 0;
        applyHeld();
        setState("live");
        break;
      case "resync_required":
        // Too much was missed to replay: the page reloads its state over HTTP.
        stream.resuming = false;
        clearTimeout(stream.resumeTimer);
        stream.held = [];
        stream.lastEventId = event.last_event_id;
        stream.attempt = 0;
        setState("live");
        emit("resync", event);
        break;
      default:
        emit(event.type, event);
    }
  }

  // ---- Helpers ------------------------------------------------------------------------------

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) {
      return input.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, path, body, options) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET") {
      headers["X-CSRFToken"] = csrfToken();
    }
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    if (options && options.keepalive) {
      init.keepalive = true;
    }
    return fetch(path, init);
  }

  function newClientMessageId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Outside a secure context: a version 4 UUID from the same random source.
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map
      .call(bytes, function (byte) {
        return (byte + 0x100).toString(16).slice(1);
      })
      .join("");
    return [
      hex.slice(0, 8),
      hex.slice(8, 12),
      hex.slice(12, 16),
      hex.slice(16, 20),
      hex.slice(20),
    ].join("-");
  }

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

  var language = document.documentElement.lang || undefined;
  var timeFormat = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });

  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "" : timeFormat.format(date);
  }

  function timeElement(className, iso) {
    var time = element("time", className, formatTime(iso));
    time.setAttribute("datetime", iso);
    time.setAttribute("data-local-time", "");
    return time;
  }

  // Times rendered by the server are in the site's zone; show them in the reader's.
  function localizeTimes(root) {
    root.querySelectorAll("time[data-local-time][datetime]").forEach(function (time) {
      var text = formatTime(time.getAttribute("datetime"));
      if (text) {
        time.textContent = text;
      }
    });
  }

  function listOf(names) {
    if (typeof Intl.ListFormat === "function") {
      return new Intl.ListFormat(language, { type: "conjunction" }).format(names);
    }
    return names.join(", ");
  }

  function initials(name) {
    var words = (name || "").trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) {
      return "";
    }
    var first = words[0].charAt(0);
    var last = words.length > 1 ? words[words.length - 1].charAt(0) : "";
    return (first + last).toUpperCase();
  }

  function avatarElement(person) {
    if (person && person.avatar_url) {
      var image = element("img", "avatar avatar--medium");
      image.src = person.avatar_url;
      image.alt = "";
      image.width = 256;
      image.height = 256;
      return image;
    }
    var placeholder = element("span", "avatar avatar--medium", initials(person && person.full_name));
    placeholder.setAttribute("aria-hidden", "true");
    return placeholder;
  }

  // The text of sanitized HTML, as the server's excerpts show it. DOMParser runs no script.
  function plainText(html) {
    var parsed = new DOMParser().parseFromString(html, "text/html");
    return (parsed.body.textContent || "").replace(/\s+/g, " ").trim();
  }

  function localPath(link) {
    return typeof link === "string" && link.charAt(0) === "/" && link.charAt(1) !== "/";
  }

  // ---- Header: unread counts ----------------------------------------------------------------

  function setHeaderCount(kind, count) {
    document.querySelectorAll('[data-unread="' + kind + '"]').forEach(function (badge) {
      var number = badge.querySelector("[data-unread-count]");
      if (number) {
        number.textContent = String(count);
      }
      badge.hidden = !count;
    });
  }

  on("unread_counts", function (event) {
    if (typeof event.messages === "number") {
      setHeaderCount("messages", event.messages);
    }
    if (typeof event.notifications === "number") {
      setHeaderCount("notifications", event.notifications);
    }
  });

  // ---- Inbox --------------------------------------------------------------------------------

  function setUpInbox(root) {
    var list = document.getElementById("conversation-list");
    var empty = document.getElementById("conversation-list-empty");
    var archived = root.getAttribute("data-archived") === "true";
    var me = parseInt(root.getAttribute("data-user-id"), 10);
    var strings = root.dataset;
    var fetching = {};

    function findRow(conversationId) {
      return list.querySelector('[data-conversation-id="' + conversationId + '"]');
    }

    function setBadge(row, count) {
      var badge = row.querySelector("[data-unread-badge]");
      badge.querySelector("[data-count]").textContent = String(count);
      badge.hidden = !count;
      row.classList.toggle("is-unread", count > 0);
    }

    function setExcerpt(row, message) {
      var excerpt = row.querySelector("[data-excerpt]");
      excerpt.textContent = "";
      if (!message) {
        excerpt.appendChild(element("em", null, strings.stringNoMessages));
        return;
      }
      row.setAttribute("data-last-message-id", String(message.id));
      if (message.sender.id === me) {
        excerpt.appendChild(element("span", "conversation-row__you", strings.stringYou));
        excerpt.appendChild(document.createTextNode(" "));
      }
      if (message.is_deleted) {
        excerpt.appendChild(element("em", null, strings.stringDeleted));
      } else {
        var text = plainText(message.content_html);
        excerpt.appendChild(document.createTextNode(text.length > 120 ? text.slice(0, 119) + "…" : text));
      }
    }

    function setTime(row, iso) {
      var time = row.querySelector(".conversation-row__time");
      time.setAttribute("datetime", iso);
      time.textContent = formatTime(iso);
    }

    // The same markup as templates/messaging/includes/conversation_row.html.
    function buildRow(conversation) {
      var others = conversation.participants.filter(function (person) {
        return person.id !== me;
      });
      var name =
        conversation.title ||
        others
          .map(function (person) {
            return person.full_name;
          })
          .join(", ");
      var row = element("li", "conversation-row");
      row.setAttribute("data-conversation-id", String(conversation.id));
      row.setAttribute("data-last-message-id", "0");
      var link = element("a", "conversation-row__link");
      link.href = "/messages/" + conversation.id + "/";
      if (conversation.kind === "direct") {
        link.appendChild(avatarElement(others[0]));
      } else {
        var group = element("span", "avatar avatar--group", "#");
        group.setAttribute("aria-hidden", "true");
        link.appendChild(group);
      }
      var body = element("span", "conversation-row__body");
      var top = element("span", "conversation-row__top");
      top.appendChild(element("span", "conversation-row__name", name));
      top.appendChild(timeElement("conversation-row__time", conversation.last_message_at || ""));
      body.appendChild(top);
      var excerpt = element("span", "conversation-row__excerpt");
      excerpt.setAttribute("data-excerpt", "");
      body.appendChild(excerpt);
      link.appendChild(body);
      var badge = element("span", "unread-badge");
      badge.setAttribute("data-unread-badge", "");
      badge.appendChild(element("span", null, "0")).setAttribute("data-count", "");
      badge.appendChild(element("span", "visually-hidden", " " + strings.stringUnread));
      link.appendChild(badge);
      row.appendChild(link);
      setExcerpt(row, conversation.last_message);
      setBadge(row, conversation.unread_count);
      return row;
    }

    function addConversation(conversationId) {
      if (fetching[conversationId]) {
        return;
      }
      fetching[conversationId] = true;
      api("GET", "/api/v1/messages/conversations/" + conversationId)
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (conversation) {
          if (conversation && !findRow(conversationId) && conversation.is_archived === archived) {
            list.insertBefore(buildRow(conversation), list.firstChild);
            empty.hidden = true;
          }
        })
        .catch(function () {})
        .then(function () {
          delete fetching[conversationId];
        });
    }

    on("new_message", function (event) {
      var message = event.message;
      var row = findRow(message.conversation_id);
      if (!row) {
        if (!archived) {
          addConversation(message.conversation_id);
        }
        return;
      }
      setExcerpt(row, message);
      setTime(row, message.created_at);
      if (!archived) {
        list.insertBefore(row, list.firstChild);
      }
    });

    on("message_updated", function (event) {
      var row = findRow(event.message.conversation_id);
      if (row && row.getAttribute("data-last-message-id") === String(event.message.id)) {
        setExcerpt(row, event.message);
      }
    });

    on("unread_counts", function (event) {
      if (event.conversation_id !== undefined && event.conversation_id !== null) {
        var row = findRow(event.conversation_id);
        if (row) {
          setBadge(row, event.conversation_unread || 0);
        }
      }
    });

    on("message_read", function (event) {
      var row = event.user_id === me && findRow(event.conversation_id);
      if (row) {
        setBadge(row, 0);
      }
    });

    on("resync", function () {
      window.location.reload();
    });
  }

  // ---- A conversation -----------------------------------------------------------------------

  function setUpConversation(root) {
    var state = JSON.parse(document.getElementById("chat-state").textContent);
    var conversationId = state.conversation_id;
    var me = state.user_id;
    var names = state.names;
    var readUpTo = {};
    Object.keys(state.read_up_to).forEach(function (userId) {
      readUpTo[userId] = state.read_up_to[userId];
    });
    var lastRead = state.last_read_message_id || 0;
    var strings = root.dataset;
    var isLatestPage = root.getAttribute("data-latest-page") === "true";
    var log = document.getElementById("chat-log");
    var list = document.getElementById("chat-messages");
    var empty = document.getElementById("chat-empty");
    var typingLine = document.getElementById("chat-typing");
    var form = document.getElementById("chat-form");
    var formError = document.getElementById("chat-form-error");
    var textarea = form.querySelector("textarea");
    var olderLink = document.getElementById("chat-older");
    var draftKey = "p2p-chat-draft-" + conversationId;

    function nearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    }

    function scrollToBottom() {
      log.scrollTop = log.scrollHeight;
    }

    function nameOf(person) {
      return names[String(person.id)] || person.full_name;
    }

    // ---- Messages

    function actionsElement() {
      var actions = element("div", "chat-message__actions");
      var edit = element("button", "button button--quiet button--small", strings.stringEdit);
      edit.type = "button";
      edit.setAttribute("data-action", "edit");
      actions.appendChild(edit);
      var remove = element("form");
      remove.setAttribute("data-delete-form", "");
      var button = element("button", "button button--quiet button--small", strings.stringDelete);
      button.type = "submit";
      remove.appendChild(button);
      actions.appendChild(remove);
      return actions;
    }

    // The same markup as templates/messaging/includes/message.html.
    function renderMessage(message) {
      var own = message.sender.id === me;
      var item = element("li", "chat-message");
      item.classList.toggle("chat-message--own", own);
      item.classList.toggle("is-deleted", message.is_deleted);
      item.id = "message-" + message.id;
      item.setAttribute("data-message-id", String(message.id));
      item.setAttribute("data-sender-id", String(message.sender.id));
      if (own && message.client_msg_id) {
        item.setAttribute("data-client-msg-id", message.client_msg_id);
      }
      if (own && !message.is_deleted) {
        item.setAttribute("data-content", message.content);
      }
      var meta = element("p", "chat-message__meta");
      meta.appendChild(element("span", "chat-message__sender", nameOf(message.sender)));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(timeElement("chat-message__time", message.created_at));
      if (message.edited_at && !message.is_deleted) {
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(element("span", "chat-message__edited", strings.stringEdited));
      }
      item.appendChild(meta);
      if (message.is_deleted) {
        item.appendChild(
          element("p", "chat-message__body chat-message__deleted", strings.stringDeleted)
        );
      } else {
        var body = element("div", "chat-message__body");
        body.innerHTML = message.content_html; // sanitized by the server (nh3)
        item.appendChild(body);
        if (own) {
          item.appendChild(actionsElement());
        }
      }
      return item;
    }

    function pendingElement(content, clientMessageId) {
      var item = element("li", "chat-message chat-message--own is-pending");
      item.setAttribute("data-client-msg-id", clientMessageId);
      item.setAttribute("data-pending", "");
      var meta = element("p", "chat-message__meta");
      meta.appendChild(element("span", "chat-message__sender", names[String(me)]));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(element("span", "chat-message__status", strings.stringSending));
      item.appendChild(meta);
      item.appendChild(element("p", "chat-message__body chat-message__plain", content));
      return item;
    }

    function findMessage(message) {
      var found = document.getElementById("message-" + message.id);
      if (!found && message.client_msg_id && message.sender.id === me) {
        found = list.querySelector(
          '[data-client-msg-id="' + CSS.escape(message.client_msg_id) + '"]'
        );
      }
      return found;
    }

    function insertInOrder(item, id) {
      var children = list.children;
      for (var index = 0; index < children.length; index += 1) {
        var child = children[index];
        var childId = parseInt(child.getAttribute("data-message-id"), 10);
        if (child.hasAttribute("data-pending") || childId > id) {
          list.insertBefore(item, child);
          return;
        }
      }
      list.appendChild(item);
    }

    // Adds a message, or replaces what shows of it (its pending copy, an older version).
    function upsert(message, options) {
      var existing = findMessage(message);
      if (!existing && options && options.onlyIfShown) {
        return;
      }
      var stick = nearBottom() || message.sender.id === me;
      var fresh = renderMessage(message);
      if (existing) {
        list.replaceChild(fresh, existing);
      } else {
        insertInOrder(fresh, message.id);
        empty.hidden = true;
        if (stick) {
          scrollToBottom();
        }
      }
      updateReceipt();
    }

    function newestMessageId() {
      var shown = list.querySelectorAll("[data-message-id]");
      return shown.length ? parseInt(shown[shown.length - 1].getAttribute("data-message-id"), 10) : 0;
    }

    function hasUnreadFromOthers() {
      var shown = list.querySelectorAll("[data-message-id]");
      for (var index = shown.length - 1; index >= 0; index -= 1) {
        var item = shown[index];
        var id = parseInt(item.getAttribute("data-message-id"), 10);
        if (id <= lastRead) {
          return false;
        }
        if (item.getAttribute("data-sender-id") !== String(me)) {
          return true;
        }
      }
      return false;
    }

    function markRead() {
      if (!isLatestPage || document.visibilityState !== "visible" || !hasUnreadFromOthers()) {
        return;
      }
      var newest = newestMessageId();
      lastRead = newest;
      var message = { type: "read", conversation_id: conversationId, message_id: newest };
      if (!send(message)) {
        api("POST", "/api/v1/messages/conversations/" + conversationId + "/read", {
          message_id: newest,
        }).catch(function () {});
      }
    }

    // ---- Read receipts: under the newest own message someone else has read.

    function updateReceipt() {
      list.querySelectorAll("[data-receipt]").forEach(function (receipt) {
        receipt.remove();
      });
      var own = list.querySelectorAll(".chat-message--own[data-message-id]:not(.is-deleted)");
      for (var index = own.length - 1; index >= 0; index -= 1) {
        var id = parseInt(own[index].getAttribute("data-message-id"), 10);
        var readers = Object.keys(readUpTo).filter(function (userId) {
          return Number(userId) !== me && readUpTo[userId] >= id;
        });
        if (readers.length > 0) {
          var text =
            state.kind === "direct"
              ? strings.stringSeen
              : strings.stringSeenBy.replace(
                  "{names}",
                  listOf(
                    readers.map(function (userId) {
                      return names[userId] || "";
                    })
                  )
                );
          var receipt = element("p", "chat-message__receipt", text);
          receipt.setAttribute("data-receipt", "");
          own[index].appendChild(receipt);
          return;
        }
      }
    }

    // ---- Typing

    var typers = {};

    function showTypers() {
      var typing = Object.keys(typers).map(function (userId) {
        return typers[userId].name;
      });
      if (typing.length === 0) {
        typingLine.textContent = "";
      } else if (typing.length === 1) {
        typingLine.textContent = strings.stringTypingOne.replace("{name}", typing[0]);
      } else {
        typingLine.textContent = strings.stringTypingMany.replace("{names}", listOf(typing));
      }
    }

    function stopTyping(userId) {
      if (typers[userId]) {
        clearTimeout(typers[userId].timer);
        delete typers[userId];
        showTypers();
      }
    }

    var lastTypingSent = 0;
    textarea.addEventListener("input", function () {
      var now = Date.now();
      if (textarea.value.trim() && now - lastTypingSent >= TYPING_SEND_INTERVAL_MS) {
        if (send({ type: "typing", conversation_id: conversationId })) {
          lastTypingSent = now;
        }
      }
    });

    // ---- Sending

    function showError(text) {
      formError.textContent = text || "";
      formError.hidden = !text;
    }

    function failed(item, retry) {
      item.classList.add("is-failed");
      var status = item.querySelector(".chat-message__status");
      status.textContent = strings.stringNotSent + " ";
      var button = element("button", "button button--quiet button--small", strings.stringRetry);
      button.type = "button";
      button.addEventListener("click", function () {
        item.classList.remove("is-failed");
        status.textContent = strings.stringSending;
        retry();
      });
      status.appendChild(button);
    }

    // The same client_msg_id on every attempt: a retry of a send that did arrive stores nothing
    // new and answers the stored message.
    function deliver(item, body, attempt) {
      function retry() {
        if (attempt + 1 < SEND_RETRIES) {
          var delay = Math.random() * BACKOFF_FIRST_MS * Math.pow(2, attempt + 1);
          setTimeout(function () {
            deliver(item, body, attempt + 1);
          }, delay);
        } else {
          failed(item, function () {
            deliver(item, body, 0);
          });
        }
      }
      api("POST", "/api/v1/messages", body).then(
        function (response) {
          if (response.ok) {
            return response.json().then(function (message) {
              upsert(message);
            });
          }
          if (response.status >= 500 || response.status === 429) {
            retry();
            return null;
          }
          return response
            .json()
            .catch(function () {
              return {};
            })
            .then(function (error) {
              item.remove();
              showError(error.detail || strings.stringFailed);
              if (!textarea.value) {
                textarea.value = body.content;
              }
            });
        },
        function () {
          retry();
        }
      );
    }

    form.addEventListener("submit", function (submitted) {
      submitted.preventDefault();
      var content = textarea.value.trim();
      if (!content) {
        return;
      }
      var clientMessageId = newClientMessageId();
      var item = pendingElement(content, clientMessageId);
      list.appendChild(item);
      empty.hidden = true;
      scrollToBottom();
      textarea.value = "";
      lastTypingSent = 0;
      showError("");
      deliver(
        item,
        { conversation_id: conversationId, content: content, client_msg_id: clientMessageId },
        0
      );
    });

    textarea.addEventListener("keydown", function (key) {
      if (key.key === "Enter" && !key.shiftKey && !key.isComposing) {
        key.preventDefault();
        form.requestSubmit();
      }
    });

    // ---- Editing and deleting own messages

    function openEditor(item) {
      if (item.querySelector(".chat-message__editor")) {
        return;
      }
      var body = item.querySelector(".chat-message__body");
      var actions = item.querySelector(".chat-message__actions");
      var editor = element("form", "chat-message__editor");
      var field = element("textarea");
      field.value = item.getAttribute("data-content") || "";
      field.rows = 3;
      field.setAttribute("aria-label", strings.stringEditLabel);
      var error = element("p", "chat-message__error");
      error.setAttribute("role", "alert");
      error.hidden = true;
      var buttons = element("div", "form__actions");
      var save = element("button", "button button--primary button--small", strings.stringSave);
      save.type = "submit";
      var cancel = element("button", "button button--quiet button--small", strings.stringCancel);
      cancel.type = "button";
      buttons.appendChild(save);
      buttons.appendChild(cancel);
      editor.appendChild(field);
      editor.appendChild(error);
      editor.appendChild(buttons);
      body.hidden = true;
      actions.hidden = true;
      item.insertBefore(editor, actions);
      field.focus();

      function close() {
        editor.remove();
        body.hidden = false;
        actions.hidden = false;
      }

      cancel.addEventListener("click", close);
      field.addEventListener("keydown", function (key) {
        if (key.key === "Escape") {
          close();
        } else if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) {
          key.preventDefault();
          editor.requestSubmit();
        }
      });
      editor.addEventListener("submit", function (submitted) {
        submitted.preventDefault();
        var content = field.value.trim();
        if (!content) {
          return;
        }
        save.disabled = true;
        var id = item.getAttribute("data-message-id");
        api("PATCH", "/api/v1/messages/" + id, { content: content })
          .then(function (response) {
            return response.json().then(function (answer) {
              if (response.ok) {
                upsert(answer);
              } else {
                error.textContent = answer.detail || strings.stringFailed;
                error.hidden = false;
              }
            });
          })
          .catch(function () {
            error.textContent = strings.stringFailed;
            error.hidden = false;
          })
          .then(function () {
            save.disabled = false;
          });
      });
    }

    list.addEventListener("click", function (clicked) {
      var button = clicked.target.closest("[data-action=edit]");
      if (button) {
        openEditor(button.closest(".chat-message"));
      }
    });

    list.addEventListener("submit", function (submitted) {
      var removal = submitted.target.closest("[data-delete-form]");
      if (!removal) {
        return;
      }
      submitted.preventDefault();
      if (!window.confirm(strings.stringConfirmDelete)) {
        return;
      }
      var id = removal.closest(".chat-message").getAttribute("data-message-id");
      api("DELETE", "/api/v1/messages/" + id)
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (message) {
          if (message) {
            upsert(message);
          }
        })
        .catch(function () {});
    });

    // ---- Older messages, as the reader scrolls up

    var loadingOlder = false;

    function loadOlder() {
      var oldest = list.querySelector("[data-message-id]");
      if (loadingOlder || !olderLink || !oldest) {
        return;
      }
      loadingOlder = true;
      var before = oldest.getAttribute("data-message-id");
      api("GET", "/api/v1/messages/conversations/" + conversationId + "/messages?before=" + before)
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (page) {
          if (!page) {
            return;
          }
          var height = log.scrollHeight;
          var top = log.scrollTop;
          var fragment = document.createDocumentFragment();
          page.messages.forEach(function (message) {
            if (!document.getElementById("message-" + message.id)) {
              fragment.appendChild(renderMessage(message));
            }
          });
          list.insertBefore(fragment, list.firstChild);
          log.scrollTop = top + (log.scrollHeight - height);
          if (!page.has_more) {
            observer.disconnect();
            document.getElementById("chat-older-wrap").remove();
            olderLink = null;
          }
          updateReceipt();
        })
        .catch(function () {})
        .then(function () {
          loadingOlder = false;
        });
    }

    var observer = new IntersectionObserver(
      function (entries) {
        if (
          entries.some(function (entry) {
            return entry.isIntersecting;
          })
        ) {
          loadOlder();
        }
      },
      { root: log }
    );

    // ---- Live events

    on("new_message", function (event) {
      var message = event.message;
      if (message.conversation_id !== conversationId || !isLatestPage) {
        return;
      }
      stopTyping(String(message.sender.id));
      upsert(message);
      markRead();
    });

    on("message_updated", function (event) {
      if (event.message.conversation_id === conversationId) {
        upsert(event.message, { onlyIfShown: true });
      }
    });

    on("message_read", function (event) {
      if (event.conversation_id !== conversationId) {
        return;
      }
      if (event.user_id === me) {
        lastRead = Math.max(lastRead, event.message_id);
      } else {
        readUpTo[String(event.user_id)] = Math.max(
          readUpTo[String(event.user_id)] || 0,
          event.message_id
        );
        updateReceipt();
      }
    });

    on("typing", function (event) {
      if (event.conversation_id !== conversationId || event.user_id === me) {
        return;
      }
      var userId = String(event.user_id);
      if (typers[userId]) {
        clearTimeout(typers[userId].timer);
      }
      typers[userId] = {
        name: event.name || names[userId] || "",
        timer: setTimeout(function () {
          stopTyping(userId);
        }, TYPING_SHOWN_MS),
      };
      showTypers();
    });

    on("resync", function () {
      if (textarea.value) {
        window.sessionStorage.setItem(draftKey, textarea.value);
      }
      window.location.reload();
    });

    // ---- Start

    var draft = window.sessionStorage.getItem(draftKey);
    if (draft !== null) {
      window.sessionStorage.removeItem(draftKey);
      if (!textarea.value) {
        textarea.value = draft;
      }
    }
    list.querySelectorAll(".chat-message--own[data-message-id]:not(.is-deleted)").forEach(
      function (item) {
        var actions = item.querySelector(".chat-message__actions");
        if (actions && !actions.querySelector("[data-action=edit]")) {
          var edit = element("button", "button button--quiet button--small", strings.stringEdit);
          edit.type = "button";
          edit.setAttribute("data-action", "edit");
          actions.insertBefore(edit, actions.firstChild);
        }
      }
    );
    if (isLatestPage && !window.location.hash) {
      scrollToBottom();
    }
    if (olderLink) {
      olderLink.addEventListener("click", function (clicked) {
        clicked.preventDefault();
        loadOlder();
      });
      observer.observe(olderLink);
    }
    document.addEventListener("visibilitychange", markRead);
    markRead();
  }

  // ---- Notifications ------------------------------------------------------------------------

  function setUpNotifications(root) {
    var list = document.getElementById("notification-list");
    var empty = document.getElementById("notification-list-empty");
    var firstPage = root.getAttribute("data-first-page") === "true";

    function buildNotification(notification) {
      var item = element("li", "notification");
      item.classList.toggle("is-unread", !notification.is_read);
      item.setAttribute("data-notification-id", String(notification.id));
      var avatar = avatarElement(notification.actor);
      avatar.classList.replace("avatar--medium", "avatar--small");
      item.appendChild(avatar);
      var body = element("div", "notification__body");
      var text;
      if (localPath(notification.link)) {
        text = element("a", "notification__text", notification.text);
        text.href = notification.link;
      } else {
        text = element("span", "notification__text", notification.text);
      }
      body.appendChild(text);
      body.appendChild(timeElement("notification__time muted", notification.created_at));
      item.appendChild(body);
      if (!notification.is_read) {
        item.appendChild(element("span", "badge badge--new", root.dataset.stringNew));
      }
      return item;
    }

    on("notification", function (event) {
      var notification = event.notification;
      if (!firstPage || list.querySelector('[data-notification-id="' + notification.id + '"]')) {
        return;
      }
      list.insertBefore(buildNotification(notification), list.firstChild);
      empty.hidden = true;
    });

    // Following an unread notification marks it read; keepalive lets the request outlive the page.
    list.addEventListener("click", function (clicked) {
      var link = clicked.target.closest("a.notification__text");
      var item = link && link.closest(".notification.is-unread");
      if (!item) {
        return;
      }
      item.classList.remove("is-unread");
      var badge = item.querySelector(".badge--new");
      if (badge) {
        badge.remove();
      }
      var id = parseInt(item.getAttribute("data-notification-id"), 10);
      api("POST", "/api/v1/notifications/read", { ids: [id] }, { keepalive: true }).catch(
        function () {}
      );
    });

    on("resync", function () {
      window.location.reload();
    });
  }

  // ---- Start --------------------------------------------------------------------------------

  function start() {
    stream.lastEventId = initialEventId();
    var root = document.querySelector("[data-messaging-page]");
    if (root) {
      localizeTimes(root);
      var page = root.getAttribute("data-messaging-page");
      if (page === "inbox") {
        setUpInbox(root);
      } else if (page === "conversation") {
        setUpConversation(root);
      } else if (page === "notifications") {
        setUpNotifications(root);
      }
    }
    window.addEventListener("online", reconnectNow);
    // A page restored from the back-forward cache lost its socket.
    window.addEventListener("pageshow", function (shown) {
      if (shown.persisted) {
        reconnectNow();
      }
    });
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
