// P2P Sandbox: the forum pages, live. Loaded by the forum's own pages only.
//
// A topic page holds one socket to /ws/forum/<topic_id>/. It reconnects with capped, fully
// jittered exponential backoff and, on every (re)connect, sends
// {"type": "resume", "after": <newest post id on the page>}: the server answers every post
// after it (post_created, oldest first), then "resumed". A post is shown once, by its id: a
// replayed copy or a second live copy replaces it in place. The reply form sends over the
// socket while it is open and falls back to its normal POST otherwise.
//
// List pages (forum home, a category) hold a socket to /ws/forum/all/ and count the topics
// created meanwhile in a "N new topics, Show" banner; "Show" reloads the list in place.
//
// Every page works without this script. Text from people is set with textContent; the only
// HTML inserted is content_html and previews, which the server sanitized.
(function () {
  "use strict";

  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_CAP_MS = 30000;
  // A resume that gets no answer in this time means a broken socket: start over.
  var RESUME_TIMEOUT_MS = 10000;
  var TYPING_SEND_INTERVAL_MS = 3000;
  var TYPING_SHOWN_MS = 5000;
  // Close codes after which reconnecting cannot help: session ended, signed out, unverified,
  // topic not visible.
  var FINAL_CLOSE_CODES = [4001, 4401, 4403, 4404];

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

  function csrfInput() {
    var input = element("input");
    input.type = "hidden";
    input.name = "csrfmiddlewaretoken";
    input.value = csrfToken();
    return input;
  }

  function postJson(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(body === undefined ? {} : body),
    });
  }

  var language = document.documentElement.lang || undefined;
  var timeFormat = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });

  function formatTime(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? "" : timeFormat.format(date);
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
    var last = words.length > 1 ? words[words.length - 1].charAt(0) : "";
    return (words[0].charAt(0) + last).toUpperCase();
  }

  function avatarElement(person) {
    if (person && person.avatar_url) {
      var image = element("img", "avatar avatar--small");
      image.src = person.avatar_url;
      image.alt = "";
      image.width = 256;
      image.height = 256;
      return image;
    }
    var placeholder = element("span", "avatar avatar--small", initials(person && person.full_name));
    placeholder.setAttribute("aria-hidden", "true");
    return placeholder;
  }

  function fetchPage(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(
      function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text().then(function (html) {
          // DOMParser runs no script.
          return new DOMParser().parseFromString(html, "text/html");
        });
      }
    );
  }

  // ---- A socket that comes back -------------------------------------------------------------

  // options.open(): the socket is open; options.event(event): a frame from the server. The page
  // root carries data-live-state: "connecting", "live" (caught up) or "offline".
  function liveSocket(path, root, options) {
    var live = { socket: null, attempt: 0, timer: null, stopped: false };

    function setState(value) {
      root.setAttribute("data-live-state", value);
    }

    function isOpen() {
      return live.socket !== null && live.socket.readyState === WebSocket.OPEN;
    }

    function send(message) {
      if (!isOpen()) {
        return false;
      }
      live.socket.send(JSON.stringify(message));
      return true;
    }

    function connect() {
      if (live.stopped || live.socket !== null) {
        return;
      }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket;
      try {
        socket = new WebSocket(scheme + window.location.host + path);
      } catch (error) {
        scheduleReconnect();
        return;
      }
      live.socket = socket;
      setState("connecting");
      socket.addEventListener("open", function () {
        if (socket === live.socket) {
          options.open();
        }
      });
      socket.addEventListener("message", function (message) {
        if (socket !== live.socket) {
          return;
        }
        var event;
        try {
          event = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        options.event(event);
      });
      socket.addEventListener("close", function (closed) {
        if (socket !== live.socket) {
          return;
        }
        live.socket = null;
        setState("offline");
        if (options.closed) {
          options.closed();
        }
        if (FINAL_CLOSE_CODES.indexOf(closed.code) !== -1) {
          live.stopped = true;
          return;
        }
        scheduleReconnect();
      });
    }

    function scheduleReconnect() {
      if (live.stopped) {
        return;
      }
      // Full jitter: anywhere between 0 and the capped exponential ceiling.
      var ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * Math.pow(2, live.attempt));
      live.attempt += 1;
      clearTimeout(live.timer);
      live.timer = setTimeout(connect, Math.random() * ceiling);
    }

    function reconnectNow() {
      if (live.socket === null && !live.stopped) {
        clearTimeout(live.timer);
        live.attempt = 0;
        connect();
      }
    }

    function caughtUp() {
      live.attempt = 0;
      setState("live");
    }

    function drop() {
      if (live.socket !== null) {
        live.socket.close();
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
    return { send: send, isOpen: isOpen, caughtUp: caughtUp, drop: drop };
  }

  // ---- Markdown preview (any form with a "Preview" button) ----------------------------------

  function setUpPreviews(root) {
    var strings = root.dataset;
    root.querySelectorAll("button[data-preview-url]").forEach(function (button) {
      var form = button.closest("form");
      var textarea = form.querySelector("textarea[data-markdown]");
      var panel = form.querySelector("[data-preview]");
      var body = panel && panel.querySelector("[data-preview-body]");
      if (!textarea || !body) {
        return;
      }

      function show(html, message) {
        body.textContent = "";
        if (message) {
          body.appendChild(element("p", "muted", message));
        } else {
          body.innerHTML = html;
        }
        panel.hidden = false;
      }

      button.addEventListener("click", function (clicked) {
        clicked.preventDefault();
        if (!textarea.value.trim()) {
          show("", strings.stringEmptyPreview);
          return;
        }
        var data = new URLSearchParams();
        data.set("content", textarea.value);
        button.disabled = true;
        fetch(button.getAttribute("data-preview-url"), {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
          body: data,
        })
          .then(function (response) {
            return response.json().then(function (answer) {
              if (response.ok) {
                show(answer.html);
              } else {
                show("", answer.detail || strings.stringFailed);
              }
            });
          })
          .catch(function () {
            show("", strings.stringFailed);
          })
          .then(function () {
            button.disabled = false;
          });
      });
      textarea.addEventListener("input", function () {
        panel.hidden = true;
      });
    });
  }

  // Buttons that delete ask first; the server deletes only a POST that says it was confirmed
  // (without this script, it answers a page that asks).
  function setUpConfirmations(root) {
    root.addEventListener("submit", function (submitted) {
      var form = submitted.target.closest("form[data-confirm]");
      if (!form) {
        return;
      }
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        submitted.preventDefault();
        return;
      }
      if (!form.querySelector("input[name=confirmed]")) {
        var confirmed = element("input");
        confirmed.type = "hidden";
        confirmed.name = "confirmed";
        confirmed.value = "yes";
        form.appendChild(confirmed);
      }
    });
  }

  // ---- A topic: the live thread -------------------------------------------------------------

  function setUpTopic(root) {
    var state = JSON.parse(document.getElementById("topic-state").textContent);
    var strings = root.dataset;
    var topicId = state.topic_id;
    var me = state.user_id;
    var list = document.getElementById("post-list");
    var empty = document.getElementById("post-list-empty");
    var typingLine = document.getElementById("topic-typing");
    var form = document.getElementById("reply-form");
    var textarea = form && form.querySelector("textarea[name=content]");
    var replyToInput = form && form.querySelector("input[name=reply_to]");
    var replyError = document.getElementById("reply-error");
    var draftKey = "forum-draft-" + topicId;
    var lastPostId = state.last_post_id || 0;
    var bestAnswerId = state.best_answer_id;
    // A reply sent over the socket, until it comes back as post_created (or as an error).
    var pending = null;
    var resumeTimer = null;

    // ---- Building a post (the markup of templates/forums/includes/post.html)

    function actionForm(action, className) {
      var form = element("form", className);
      form.method = "post";
      form.action = action;
      form.appendChild(csrfInput());
      return form;
    }

    function smallButton(text, type) {
      var button = element("button", "button button--quiet button--small", text);
      button.type = type || "submit";
      return button;
    }

    function bestForm(post) {
      var form = actionForm("/forums/t/" + topicId + "/best-answer/");
      form.setAttribute("data-best-form", "");
      var input = element("input");
      input.type = "hidden";
      input.name = "post_id";
      var isBest = post.id === bestAnswerId;
      input.value = isBest ? "" : String(post.id);
      form.appendChild(input);
      form.appendChild(smallButton(isBest ? strings.stringUnmarkBest : strings.stringMarkBest));
      return form;
    }

    function renderPost(post, liked) {
      var authorName = post.author ? post.author.full_name : strings.stringFormerMember;
      var item = element("li", "forum-post");
      item.id = "post-" + post.id;
      item.setAttribute("data-post-id", String(post.id));
      item.setAttribute("data-author-id", post.author ? String(post.author.id) : "");
      item.classList.toggle("is-deleted", post.is_deleted);
      item.classList.toggle("is-best-answer", post.id === bestAnswerId);

      var meta = element("header", "forum-post__meta");
      meta.appendChild(post.author ? avatarElement(post.author) : avatarElement(null));
      var byline = element("span", "forum-post__byline");
      byline.appendChild(element("span", "forum-post__author", authorName));
      if (post.author && post.author.organization_name) {
        byline.appendChild(document.createTextNode(" "));
        byline.appendChild(
          element("span", "forum-post__organization", post.author.organization_name)
        );
      }
      meta.appendChild(byline);
      var permalink = element("a", "forum-post__permalink");
      permalink.href = "#post-" + post.id;
      var time = element("time", null, formatTime(post.created_at));
      time.setAttribute("datetime", post.created_at);
      time.setAttribute("data-local-time", "");
      permalink.appendChild(time);
      meta.appendChild(permalink);
      if (post.edited_at && !post.is_deleted) {
        meta.appendChild(element("span", "forum-post__edited", strings.stringEdited));
      }
      var best = element("span", "badge badge--solved forum-post__best", strings.stringBestAnswer);
      best.setAttribute("data-best-marker", "");
      best.hidden = post.id !== bestAnswerId;
      meta.appendChild(best);
      item.appendChild(meta);

      if (post.is_deleted) {
        item.appendChild(element("p", "forum-post__deleted", strings.stringDeleted));
        return item;
      }
      if (post.reply_to) {
        var quote = element("blockquote", "forum-post__quote");
        var link = element(
          "a",
          null,
          strings.stringInReplyTo.replace(
            "{name}",
            post.reply_to.author_name || strings.stringFormerMember
          )
        );
        link.href = "#post-" + post.reply_to.id;
        quote.appendChild(link);
        quote.appendChild(document.createTextNode(" "));
        if (post.reply_to.excerpt) {
          quote.appendChild(element("span", "forum-post__quote-text", post.reply_to.excerpt));
        } else {
          quote.appendChild(element("em", "forum-post__quote-text", strings.stringDeleted));
        }
        item.appendChild(quote);
      }
      var body = element("div", "forum-post__body");
      body.innerHTML = post.content_html;
      item.appendChild(body);

      var actions = element("div", "forum-post__actions");
      var like = actionForm("/forums/p/" + post.id + "/like/");
      like.setAttribute("data-like-form", "");
      var likeButton = element("button", "like-button");
      likeButton.type = "submit";
      likeButton.setAttribute("aria-pressed", liked ? "true" : "false");
      likeButton.appendChild(element("span", "like-button__label", strings.stringLike));
      likeButton.appendChild(document.createTextNode(" "));
      var count = element("span", "like-button__count", String(post.like_count));
      count.setAttribute("data-like-count", "");
      likeButton.appendChild(count);
      like.appendChild(likeButton);
      actions.appendChild(like);

      var reply = element("a", "button button--quiet button--small", strings.stringReply);
      reply.href = "?reply_to=" + post.id + "#reply-form";
      reply.setAttribute("data-reply-to", String(post.id));
      reply.setAttribute("data-reply-name", authorName);
      actions.appendChild(reply);
      if (state.can_mark_best) {
        actions.appendChild(bestForm(post));
      }
      // Organization admins may delete their colleagues' posts too: the page shows that
      // button for posts it rendered; a live post gets it on the next load.
      var isOwn = post.author !== null && post.author.id === me;
      if (isOwn || state.is_staff) {
        var edit = element("a", "button button--quiet button--small", strings.stringEdit);
        edit.href = "/forums/p/" + post.id + "/edit/";
        actions.appendChild(edit);
        var remove = actionForm("/forums/p/" + post.id + "/delete/");
        remove.setAttribute("data-confirm", strings.stringConfirmDelete);
        remove.appendChild(smallButton(strings.stringDelete));
        actions.appendChild(remove);
      }
      item.appendChild(actions);
      return item;
    }

    // Shows a post: in place when the page has it, else at the end (newest page only).
    // Answers whether the post is new to the page.
    function upsert(post, options) {
      var existing = document.getElementById("post-" + post.id);
      if (existing) {
        var pressed = existing.querySelector(".like-button[aria-pressed=true]") !== null;
        existing.replaceWith(renderPost(post, pressed));
        return false;
      }
      if ((options && options.onlyIfShown) || !state.is_latest_page) {
        return false;
      }
      var item = renderPost(post, false);
      var after = null;
      list.querySelectorAll("[data-post-id]").forEach(function (shown) {
        if (parseInt(shown.getAttribute("data-post-id"), 10) > post.id && after === null) {
          after = shown;
        }
      });
      list.insertBefore(item, after);
      empty.hidden = true;
      lastPostId = Math.max(lastPostId, post.id);
      return true;
    }

    function addToReplyCount(change) {
      var count = document.getElementById("topic-reply-count");
      var value = parseInt(count.textContent, 10);
      if (!isNaN(value)) {
        count.textContent = String(Math.max(0, value + change));
      }
    }

    function applyBestAnswer(postId) {
      bestAnswerId = postId;
      list.querySelectorAll(".forum-post").forEach(function (item) {
        var id = parseInt(item.getAttribute("data-post-id"), 10);
        var isBest = id === postId;
        item.classList.toggle("is-best-answer", isBest);
        var marker = item.querySelector("[data-best-marker]");
        if (marker) {
          marker.hidden = !isBest;
        }
        var form = item.querySelector("[data-best-form]");
        if (form) {
          form.replaceWith(bestForm({ id: id }));
        }
      });
      document.getElementById("topic-solved").hidden = postId === null;
    }

    // ---- Typing and presence

    var typers = {};

    function showTypers() {
      var names = Object.keys(typers).map(function (userId) {
        return typers[userId].name;
      });
      if (names.length === 0) {
        typingLine.textContent = "";
      } else if (names.length === 1) {
        typingLine.textContent = strings.stringTypingOne.replace("{name}", names[0]);
      } else {
        typingLine.textContent = strings.stringTypingMany.replace("{names}", listOf(names));
      }
    }

    function stopTyping(userId) {
      if (typers[userId]) {
        clearTimeout(typers[userId].timer);
        delete typers[userId];
        showTypers();
      }
    }

    function showPresence(event) {
      var others = (event.viewers || [])
        .filter(function (viewer) {
          return viewer.id !== me;
        })
        .map(function (viewer) {
          return viewer.name;
        });
      document.getElementById("topic-viewer-count").textContent =
        strings.stringViewing.replace("{count}", String(event.count));
      document.getElementById("topic-viewer-names").textContent = others.length
        ? listOf(others)
        : "";
      document.getElementById("topic-presence").hidden = false;
    }

    // ---- The reply form

    function showReplyError(text) {
      if (replyError) {
        replyError.textContent = text || "";
        replyError.hidden = !text;
      }
    }

    function setReplyTo(postId, name) {
      if (!replyToInput) {
        return;
      }
      replyToInput.value = postId ? String(postId) : "";
      document.getElementById("reply-to-name").textContent = name || "";
      document.getElementById("reply-to").hidden = !postId;
    }

    function restorePending(message) {
      if (pending === null) {
        return;
      }
      if (textarea && !textarea.value) {
        textarea.value = pending.content;
        if (pending.replyTo) {
          setReplyTo(pending.replyTo, pending.replyName);
        }
      }
      pending = null;
      showReplyError(message);
    }

    function setLocked(locked) {
      document.getElementById("topic-locked").hidden = !locked;
      var notice = document.getElementById("topic-locked-notice");
      if (notice) {
        notice.hidden = !locked;
        document.getElementById("reply-fields").disabled = locked;
      }
    }

    // ---- Live events

    function receive(event) {
      if (event.topic_id !== undefined && event.topic_id !== topicId) {
        return;
      }
      switch (event.type) {
        case "post_created":
          if (event.post.author) {
            stopTyping(String(event.post.author.id));
          }
          if (
            pending !== null &&
            event.post.author &&
            event.post.author.id === me &&
            event.post.content === pending.content
          ) {
            pending = null;
          }
          if (upsert(event.post) && !event.post.is_deleted) {
            addToReplyCount(1);
          }
          break;
        case "post_updated":
          upsert(event.post, { onlyIfShown: true });
          break;
        case "post_deleted":
          var shown = document.getElementById("post-" + event.post_id);
          if (shown && !shown.classList.contains("is-deleted")) {
            addToReplyCount(-1);
          }
          upsert(event.post, { onlyIfShown: true });
          break;
        case "post_liked":
          var liked = document.getElementById("post-" + event.post_id);
          var count = liked && liked.querySelector("[data-like-count]");
          if (count) {
            count.textContent = String(event.like_count);
          }
          break;
        case "best_answer":
          applyBestAnswer(event.post_id);
          break;
        case "topic_updated":
          document.getElementById("topic-title").textContent = event.title;
          document.getElementById("topic-pinned").hidden = !event.is_pinned;
          setLocked(event.is_locked);
          var category = document.getElementById("topic-category-link");
          category.textContent = event.category.name;
          category.href = "/forums/c/" + encodeURIComponent(event.category.slug) + "/";
          break;
        case "topic_deleted":
          var notice = document.getElementById("topic-deleted-notice");
          notice.textContent = strings.stringTopicDeleted;
          notice.hidden = false;
          if (form) {
            form.hidden = true;
          }
          break;
        case "typing":
          if (event.user.id === me) {
            return;
          }
          var userId = String(event.user.id);
          if (typers[userId]) {
            clearTimeout(typers[userId].timer);
          }
          typers[userId] = {
            name: event.user.name,
            timer: setTimeout(function () {
              stopTyping(userId);
            }, TYPING_SHOWN_MS),
          };
          showTypers();
          break;
        case "presence":
          showPresence(event);
          break;
        case "resumed":
          clearTimeout(resumeTimer);
          // A reply sent before the connection dropped and not among what came back was lost.
          restorePending(strings.stringNotSent);
          socket.caughtUp();
          break;
        case "resync_required":
          // Too much was missed to replay: the page reloads its thread over HTTP.
          if (textarea && textarea.value) {
            window.sessionStorage.setItem(draftKey, textarea.value);
          }
          window.location.reload();
          break;
        case "error":
          restorePending(event.detail || strings.stringFailed);
          break;
      }
    }

    var socket = liveSocket("/ws/forum/" + topicId + "/", root, {
      open: function () {
        if (!state.is_latest_page) {
          socket.caughtUp();
          return;
        }
        socket.send({ type: "resume", after: lastPostId });
        clearTimeout(resumeTimer);
        resumeTimer = setTimeout(socket.drop, RESUME_TIMEOUT_MS);
      },
      event: receive,
      closed: function () {
        clearTimeout(resumeTimer);
      },
    });

    // ---- Sending

    if (form && textarea) {
      var lastTypingSent = 0;

      form.addEventListener("submit", function (submitted) {
        var submitter = submitted.submitter;
        if (submitter && submitter.name === "preview") {
          return;
        }
        var content = textarea.value.trim();
        if (!content || !state.is_latest_page || pending !== null || !socket.isOpen()) {
          return; // the normal POST: the server answers the page, with the errors if any
        }
        submitted.preventDefault();
        var frame = { type: "new_post", content: content };
        var replyTo = replyToInput && replyToInput.value ? parseInt(replyToInput.value, 10) : null;
        if (replyTo) {
          frame.reply_to = replyTo;
        }
        if (!socket.send(frame)) {
          form.submit();
          return;
        }
        pending = {
          content: content,
          replyTo: replyTo,
          replyName: document.getElementById("reply-to-name").textContent,
        };
        textarea.value = "";
        lastTypingSent = 0;
        setReplyTo(null);
        showReplyError("");
        var preview = form.querySelector("[data-preview]");
        if (preview) {
          preview.hidden = true;
        }
      });

      textarea.addEventListener("input", function () {
        var now = Date.now();
        if (textarea.value.trim() && now - lastTypingSent >= TYPING_SEND_INTERVAL_MS) {
          if (socket.send({ type: "typing" })) {
            lastTypingSent = now;
          }
        }
      });

      var cancel = document.getElementById("reply-to-cancel");
      cancel.addEventListener("click", function (clicked) {
        clicked.preventDefault();
        setReplyTo(null);
      });

      var draft = window.sessionStorage.getItem(draftKey);
      if (draft !== null) {
        window.sessionStorage.removeItem(draftKey);
        if (!textarea.value) {
          textarea.value = draft;
        }
      }
    }

    // ---- Buttons of the posts and the topic

    list.addEventListener("click", function (clicked) {
      var reply = clicked.target.closest("[data-reply-to]");
      if (!reply || !form) {
        return;
      }
      clicked.preventDefault();
      setReplyTo(
        parseInt(reply.getAttribute("data-reply-to"), 10),
        reply.getAttribute("data-reply-name")
      );
      form.scrollIntoView({ block: "nearest" });
      textarea.focus();
    });

    root.addEventListener("submit", function (submitted) {
      var target = submitted.target;
      if (target.matches("[data-like-form]")) {
        submitted.preventDefault();
        var item = target.closest(".forum-post");
        var path = item
          ? "/api/v1/forums/posts/" + item.getAttribute("data-post-id") + "/like"
          : "/api/v1/forums/topics/" + topicId + "/like";
        var button = target.querySelector("button");
        button.disabled = true;
        postJson(path)
          .then(function (response) {
            if (!response.ok) {
              target.submit(); // the server's page says what went wrong
              return null;
            }
            return response.json().then(function (answer) {
              var current = item ? document.getElementById(item.id) : null;
              var shown = current ? current.querySelector(".like-button") : button;
              shown.setAttribute("aria-pressed", answer.liked ? "true" : "false");
              shown.querySelector("[data-like-count]").textContent = String(answer.like_count);
            });
          })
          .catch(function () {})
          .then(function () {
            button.disabled = false;
          });
      } else if (target.matches("[data-best-form]")) {
        submitted.preventDefault();
        var value = target.querySelector("input[name=post_id]").value;
        postJson("/api/v1/forums/topics/" + topicId + "/best-answer", {
          post_id: value ? parseInt(value, 10) : null,
        })
          .then(function (response) {
            if (!response.ok) {
              target.submit();
              return null;
            }
            return response.json().then(function (topic) {
              applyBestAnswer(topic.best_answer_id);
            });
          })
          .catch(function () {});
      }
    });

    // ---- Older replies, in place

    var older = document.getElementById("posts-older");
    if (older) {
      older.addEventListener("click", function (clicked) {
        clicked.preventDefault();
        if (older.getAttribute("aria-busy") === "true") {
          return;
        }
        older.setAttribute("aria-busy", "true");
        fetchPage(older.href)
          .then(function (page) {
            var fragment = document.createDocumentFragment();
            page.querySelectorAll("#post-list > .forum-post").forEach(function (item) {
              if (!document.getElementById(item.id)) {
                fragment.appendChild(document.importNode(item, true));
              }
            });
            localizeTimes(fragment);
            list.insertBefore(fragment, list.firstChild);
            var next = page.getElementById("posts-older");
            if (next) {
              older.href = next.getAttribute("href");
            } else {
              document.getElementById("posts-older-wrap").remove();
            }
          })
          .catch(function () {})
          .then(function () {
            older.removeAttribute("aria-busy");
          });
      });
    }
  }

  // ---- Lists: "N new topics, Show" ----------------------------------------------------------

  function setUpList(root) {
    if (!root.hasAttribute("data-live-list")) {
      return;
    }
    var strings = root.dataset;
    var categoryId = root.hasAttribute("data-category-id")
      ? parseInt(root.getAttribute("data-category-id"), 10)
      : null;
    var banner = document.getElementById("new-topics");
    var bannerText = document.getElementById("new-topics-text");
    var show = document.getElementById("new-topics-show");
    var fresh = {};

    function freshCount() {
      return Object.keys(fresh).length;
    }

    function showBanner() {
      var count = freshCount();
      bannerText.textContent =
        count === 1 ? strings.stringNewOne : strings.stringNewMany.replace("{count}", count);
      banner.hidden = count === 0;
    }

    function replace(page, id) {
      var current = document.getElementById(id);
      var loaded = page.getElementById(id);
      if (current && loaded) {
        current.replaceWith(document.importNode(loaded, true));
      }
    }

    show.addEventListener("click", function () {
      show.disabled = true;
      fetchPage(window.location.href)
        .then(function (page) {
          ["topic-list", "topic-list-empty", "pinned-list", "category-list"].forEach(function (id) {
            replace(page, id);
          });
          localizeTimes(root);
          fresh = {};
          showBanner();
        })
        .catch(function () {
          window.location.reload();
        })
        .then(function () {
          show.disabled = false;
        });
    });

    var socket = liveSocket("/ws/forum/all/", root, {
      open: function () {
        socket.caughtUp();
      },
      event: function (event) {
        if (event.type !== "topic_created") {
          return;
        }
        var topic = event.topic;
        if (categoryId !== null && (!topic || topic.category.id !== categoryId)) {
          return;
        }
        if (document.querySelector('#topic-list [data-topic-id="' + event.topic_id + '"]')) {
          return;
        }
        fresh[event.topic_id] = true;
        showBanner();
      },
    });
  }

  // ---- Start --------------------------------------------------------------------------------

  function start() {
    var root = document.querySelector("[data-forum-page]");
    if (!root) {
      return;
    }
    localizeTimes(root);
    setUpPreviews(root);
    setUpConfirmations(root);
    var page = root.getAttribute("data-forum-page");
    if (page === "topic") {
      setUpTopic(root);
    } else if (page === "list") {
      setUpList(root);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
