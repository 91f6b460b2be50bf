/*!
 * Analytics web tracker: page views, custom events, identify, batching, sendBeacon on
 * unload, retry with exponential backoff. No dependencies; ~4 KB minified.
 *
 * Snippet (see docs/ingestion.md):
 *   <script src="https://analytics.example.com/static/js/tracker.js"
 *           data-write-key="wk_..." data-host="https://analytics.example.com" defer></script>
 *   analytics.track("signed_up", {plan: "pro"});  analytics.identify("user-42", {email: "a@b.c"});
 *
 * Events go to POST {host}/api/v1/events as {"api_key", "sent_at", "batch": [...]}, sent as
 * text/plain so browsers need no CORS preflight. Every event carries a random UUID
 * event_id, so a retried batch is stored once. 429 and 5xx are retried with backoff; events
 * the server refuses by index ("rejected") are dropped, the others of the batch kept.
 */
(function (window, document) {
  "use strict";

  var VERSION = "1.0.0";
  var STORAGE_PREFIX = "_analytics_";
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;
  var MAX_QUEUE = 1000;
  var MAX_BATCH = 100;

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = [];
    for (var j = 0; j < 16; j++) hex.push((bytes[j] + 0x100).toString(16).slice(1));
    return hex.slice(0, 4).join("") + "-" + hex.slice(4, 6).join("") + "-" + hex.slice(6, 8).join("") + "-" +
      hex.slice(8, 10).join("") + "-" + hex.slice(10, 16).join("");
  }

  // Storage that survives private mode and blocked cookies (falls back to memory).
  var memory = {};
  function load(key) {
    try { return window.localStorage.getItem(STORAGE_PREFIX + key); } catch (e) { return memory[key] || null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(STORAGE_PREFIX + key, value); } catch (e) { memory[key] = value; }
  }
  function remove(key) {
    try { window.localStorage.removeItem(STORAGE_PREFIX + key); } catch (e) { delete memory[key]; }
  }

  // The first `limit` code points (the server counts code points): never half a surrogate pair.
  function truncate(text, limit) {
    text = String(text);
    if (text.length <= limit) return text;
    var end = 0;
    for (var count = 0; count < limit && end < text.length; count++) {
      var code = text.charCodeAt(end);
      end += code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
    }
    return text.slice(0, end);
  }

  // The indexes the server refused, from {"rejected": [{"index": i, ...}]} (also inside "error").
  function rejectedIndexes(body) {
    var list = body && (body.rejected || (body.error && body.error.rejected));
    var indexes = {};
    var count = 0;
    if (list && list.length) {
      for (var i = 0; i < list.length; i++) {
        if (list[i] && typeof list[i].index === "number" && !indexes[list[i].index]) {
          indexes[list[i].index] = true;
          count += 1;
        }
      }
    }
    return count ? indexes : null;
  }

  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (!source) continue;
      for (var key in source) {
        if (Object.prototype.hasOwnProperty.call(source, key)) target[key] = source[key];
      }
    }
    return target;
  }

  function Tracker() {
    this.queue = [];
    this.options = {
      host: "",
      writeKey: "",
      batchSize: 20,          // send when this many events wait
      flushInterval: 2000,    // ... or after this many milliseconds
      maxRetries: 6,
      capturePageviews: true,
      debug: false
    };
    this.retries = 0;
    this.timer = null;
    this.sending = false;
    this.initialised = false;
  }

  Tracker.prototype.init = function (writeKey, options) {
    this.options = assign({}, this.options, options || {}, { writeKey: writeKey });
    this.options.host = (this.options.host || "").replace(/\/+$/, "");
    this.options.batchSize = Math.max(1, Math.min(MAX_BATCH, this.options.batchSize));
    if (!load("anonymous_id")) save("anonymous_id", "anon-" + uuid4());
    // Events queued by a previous page that could not be sent.
    try {
      var pending = JSON.parse(load("pending") || "[]");
      if (pending.length) this.queue = pending.concat(this.queue).slice(-MAX_QUEUE);
    } catch (e) { remove("pending"); }
    remove("pending");
    this.initialised = true;
    var self = this;
    var onHide = function () { self.flushOnUnload(); };
    window.addEventListener("pagehide", onHide);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") onHide();
    });
    if (this.options.capturePageviews) this.page();
    this.schedule();
    return this;
  };

  Tracker.prototype.distinctId = function () {
    return load("user_id") || load("anonymous_id");
  };

  Tracker.prototype.sessionId = function () {
    var now = Date.now();
    var id = load("session_id");
    var last = parseInt(load("session_seen") || "0", 10);
    if (!id || now - last > SESSION_TIMEOUT_MS) {
      id = uuid4();
      save("session_id", id);
    }
    save("session_seen", String(now));
    return id;
  };

  Tracker.prototype.context = function () {
    return {
      $current_url: window.location.href,
      $pathname: window.location.pathname,
      $referrer: document.referrer || "",
      $title: document.title || "",
      $screen_width: window.screen ? window.screen.width : undefined,
      $screen_height: window.screen ? window.screen.height : undefined,
      $session_id: this.sessionId(),
      $lib: "web",
      $lib_version: VERSION
    };
  };

  Tracker.prototype.capture = function (event, properties, distinctId) {
    if (typeof event !== "string" || !event) return;
    this.queue.push({
      event: truncate(event, 200),
      distinct_id: distinctId || this.distinctId(),
      event_id: uuid4(),
      timestamp: new Date().toISOString(),
      properties: assign(this.context(), properties || {})
    });
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    if (this.queue.length >= this.options.batchSize) this.flush();
  };

  /** A custom event. */
  Tracker.prototype.track = function (event, properties) {
    this.capture(event, properties);
  };

  /** A page view (called on load unless capturePageviews is false; call it on SPA route changes). */
  Tracker.prototype.page = function (properties) {
    this.capture("$pageview", properties);
  };

  /** Tie this browser's anonymous id to a known user and set person properties. */
  Tracker.prototype.identify = function (userId, traits) {
    if (userId === undefined || userId === null || userId === "") return;
    userId = truncate(userId, 200);
    var previous = this.distinctId();
    save("user_id", userId);
    var properties = { $set: traits || {} };
    if (previous && previous !== userId) properties.$anon_distinct_id = previous;
    this.capture("$identify", properties, userId);
  };

  /** Forget the user (log out): a new anonymous id from now on. */
  Tracker.prototype.reset = function () {
    remove("user_id");
    remove("session_id");
    save("anonymous_id", "anon-" + uuid4());
  };

  Tracker.prototype.endpoint = function () {
    return this.options.host + "/api/v1/events";
  };

  Tracker.prototype.body = function (batch) {
    return JSON.stringify({ api_key: this.options.writeKey, sent_at: new Date().toISOString(), batch: batch });
  };

  Tracker.prototype.schedule = function (delay) {
    var self = this;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(function () {
      self.timer = null;
      self.flush();
      self.schedule();
    }, delay === undefined ? this.options.flushInterval : delay);
  };

  /** Send what is queued now (fetch with keepalive; retried with backoff on failure). */
  Tracker.prototype.flush = function () {
    if (!this.initialised || this.sending || !this.queue.length) return;
    var batch = this.queue.splice(0, MAX_BATCH);
    var self = this;
    this.sending = true;
    var retry = function (retryAfterSeconds) {
      self.sending = false;
      // Put the batch back in front: the same event ids make the resend safe.
      self.queue = batch.concat(self.queue).slice(-MAX_QUEUE);
      if (self.retries >= self.options.maxRetries) {
        self.log("giving up for now after retries", self.retries);
        self.retries = 0;
        self.schedule();
        return;
      }
      var backoff = Math.min(60000, 1000 * Math.pow(2, self.retries)) * (0.5 + Math.random() / 2);
      self.retries += 1;
      self.schedule(Math.max(backoff, (retryAfterSeconds || 0) * 1000));
    };
    var done = function () {
      self.sending = false;
      self.retries = 0;
      if (self.queue.length >= self.options.batchSize) self.flush();
    };
    // A 4xx: resending the same batch cannot help. If the server named the bad events, keep
    // the others for the next send; otherwise (or if it named none of them) drop the batch.
    var refused = function (status, answer) {
      var bad = rejectedIndexes(answer);
      var keep = [];
      if (bad) {
        for (var i = 0; i < batch.length; i++) if (!bad[i]) keep.push(batch[i]);
      }
      if (keep.length && keep.length < batch.length) {
        self.queue = keep.concat(self.queue).slice(-MAX_QUEUE);
        self.log("events refused, the rest kept", status, answer);
      } else {
        self.log("batch refused", status, answer);
      }
      done();
    };
    try {
      window.fetch(this.endpoint(), {
        method: "POST",
        body: this.body(batch),
        headers: { "Content-Type": "text/plain" },
        keepalive: true,
        credentials: "omit"
      }).then(function (response) {
        if (response.status === 429 || response.status >= 500) {
          retry(parseInt(response.headers.get("Retry-After") || "0", 10));
          return;
        }
        var answered = function (answer) {
          if (response.status >= 400) {
            refused(response.status, answer);
          } else {
            // Stored, except the events listed in "rejected": resending would not change that.
            if (rejectedIndexes(answer)) self.log("events rejected", answer.rejected);
            done();
          }
        };
        response.json().then(answered, function () { answered(null); });
      }, function () { retry(0); });
    } catch (e) {
      retry(0);
    }
  };

  /** The page is going away: hand the queue to the browser with sendBeacon. */
  Tracker.prototype.flushOnUnload = function () {
    if (!this.queue.length) return;
    var batch = this.queue.splice(0, MAX_BATCH);
    var sent = false;
    try {
      if (navigator.sendBeacon) {
        sent = navigator.sendBeacon(this.endpoint(), new Blob([this.body(batch)], { type: "text/plain" }));
      }
    } catch (e) { sent = false; }
    if (!sent) batch = batch.concat(this.queue);
    else batch = this.queue;
    this.queue = [];
    // Whatever could not be handed over is kept for the next page of this site.
    if (batch.length) save("pending", JSON.stringify(batch.slice(-MAX_QUEUE)));
  };

  Tracker.prototype.log = function () {
    if (this.options.debug && window.console) window.console.log.apply(window.console, ["[analytics]"].concat([].slice.call(arguments)));
  };

  var tracker = new Tracker();
  var existing = window.analytics;
  window.analytics = tracker;

  // Auto-init from the script tag: data-write-key and data-host (default: the script's origin).
  var script = document.currentScript;
  if (script && script.getAttribute("data-write-key")) {
    var host = script.getAttribute("data-host");
    if (!host) {
      try { host = new URL(script.src).origin; } catch (e) { host = ""; }
    }
    tracker.init(script.getAttribute("data-write-key"), {
      host: host,
      capturePageviews: script.getAttribute("data-capture-pageviews") !== "false",
      debug: script.hasAttribute("data-debug")
    });
  }
  // Calls made before the script loaded: window.analytics = window.analytics || [] ; analytics.push([...]).
  if (existing && typeof existing.length === "number") {
    for (var i = 0; i < existing.length; i++) {
      var call = existing[i];
      if (call && typeof tracker[call[0]] === "function") tracker[call[0]].apply(tracker, call.slice(1));
    }
  }
})(window, document);
