/* The pages' behaviour: charts (Apache ECharts), the live counter (WebSocket with backoff and
   catch-up), htmx card states, the date-range form, copy buttons and the phone menu.
   No inline scripts (strict CSP): data arrives in json_script blocks and data- attributes. */
(function () {
  "use strict";

  var charts = [];           // {el, chart, data}
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function palette() {
    return [1, 2, 3, 4, 5, 6].map(function (n) { return css("--chart-" + n); });
  }
  function grouped(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US");
  }
  function shortNumber(value) {
    var abs = Math.abs(value);
    var units = [[1e9, "B"], [1e6, "M"], [1e4, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (abs >= units[i][0]) { return (value / units[i][0]).toFixed(1).replace(/\.0$/, "") + units[i][1]; }
    }
    return grouped(value);
  }

  /* Tooltips are built as DOM nodes: HTML strings with style attributes would break the CSP. */
  function tooltipRows(title, rows) {
    var box = document.createElement("div");
    var head = document.createElement("div");
    head.textContent = title;
    head.className = "tt-title";
    box.appendChild(head);
    rows.forEach(function (row) {
      var line = document.createElement("div");
      var mark = document.createElement("span");
      mark.className = "tt-mark";
      mark.style.background = row.color;
      line.appendChild(mark);
      line.appendChild(document.createTextNode(" " + row.name + ": " + row.value));
      box.appendChild(line);
    });
    return box;
  }

  function baseOption() {
    var text = css("--text"), muted = css("--muted"), grid = css("--chart-grid");
    return {
      color: palette(),
      animation: false,
      textStyle: { color: text, fontFamily: "system-ui, sans-serif" },
      grid: { left: 8, right: 36, top: 28, bottom: 8, containLabel: true },
      tooltip: {
        backgroundColor: css("--panel"), borderColor: css("--border"), textStyle: { color: text },
        extraCssText: "", confine: true
      },
      legend: { textStyle: { color: muted }, top: 0, right: 0 },
      _axis: { axisLine: { lineStyle: { color: grid } }, axisLabel: { color: muted }, splitLine: { lineStyle: { color: grid } } }
    };
  }

  function timeseriesOption(data) {
    var option = baseOption(), axis = option._axis;
    delete option._axis;
    var colors = palette();
    var series = [];
    var current = data.current_index;
    data.series.forEach(function (item, index) {
      var color = item.previous ? css("--muted") : colors[index % colors.length];
      var values = item.data.slice();
      if (!item.previous && current > 0) {
        // The current, incomplete bucket is drawn dashed: a solid line up to the bucket before it...
        var solid = values.map(function (v, i) { return i < current ? v : null; });
        var open = values.map(function (v, i) { return i >= current - 1 && i <= current ? v : null; });
        series.push({ name: item.name, type: "line", data: solid, showSymbol: values.length < 40, color: color, lineStyle: { width: 2 } });
        series.push({ name: item.name + " (so far)", type: "line", data: open, color: color, lineStyle: { type: "dashed", width: 2 }, showSymbol: true, _open: true });
      } else {
        series.push({ name: item.name, type: "line", data: values, color: color, showSymbol: values.length < 40,
          lineStyle: { width: 2, type: item.previous ? "dashed" : "solid" } });
      }
    });
    option.xAxis = Object.assign({ type: "category", data: data.labels, boundaryGap: false }, axis, {
      splitLine: { show: false },
      axisLabel: { color: css("--muted"), hideOverlap: true, alignMinLabel: "left", alignMaxLabel: "right" }
    });
    option.yAxis = Object.assign({ type: "value", min: 0, minInterval: 1, name: data.unit, nameTextStyle: { color: css("--muted") },
      axisLabel: { color: css("--muted"), formatter: shortNumber } }, { splitLine: axis.splitLine });
    option.series = series;
    option.legend.show = data.series.length > 1;
    option.legend.data = data.series.map(function (item) { return item.name; });
    option.tooltip.trigger = "axis";
    option.tooltip.formatter = function (params) {
      var seen = {};
      var rows = [];
      params.forEach(function (p) {
        if (p.value === null || p.value === undefined) { return; }
        var name = p.seriesName.replace(" (so far)", "");
        if (seen[name]) { return; }
        seen[name] = true;
        rows.push({ name: name + (p.seriesName !== name ? " (so far)" : ""), value: grouped(p.value), color: p.color });
      });
      return tooltipRows(params.length ? params[0].axisValue : "", rows);
    };
    return option;
  }

  function barOption(data) {
    var option = baseOption(), axis = option._axis;
    delete option._axis;
    option.grid.top = 8;
    option.yAxis = Object.assign({ type: "category", data: data.labels.slice().reverse(), inverse: false }, axis,
      { splitLine: { show: false }, axisLabel: { color: css("--muted"), width: 140, overflow: "truncate" } });
    option.xAxis = Object.assign({ type: "value", min: 0 }, axis, { axisLabel: { color: css("--muted"), formatter: shortNumber } });
    option.series = [{ name: data.series[0].name, type: "bar", data: data.series[0].data.slice().reverse(), color: palette()[0], barMaxWidth: 22 }];
    option.legend.show = false;
    option.tooltip.trigger = "axis";
    option.tooltip.axisPointer = { type: "shadow" };
    option.tooltip.formatter = function (params) {
      return tooltipRows(params[0].name, [{ name: params[0].seriesName, value: grouped(params[0].value), color: params[0].color }]);
    };
    return option;
  }

  function pieOption(data) {
    var option = baseOption();
    delete option._axis;
    var total = data.values.reduce(function (a, b) { return a + b; }, 0) || 1;
    option.series = [{
      type: "pie", radius: ["45%", "72%"], center: ["50%", "55%"], avoidLabelOverlap: true,
      itemStyle: { borderColor: css("--panel"), borderWidth: 2 },
      label: { color: css("--text"), lineHeight: 16, formatter: function (p) { return p.name + "\n" + (100 * p.value / total).toFixed(1) + "%"; } },
      data: data.labels.map(function (label, i) { return { name: label, value: data.values[i] }; })
    }];
    option.legend.show = false;
    option.tooltip.trigger = "item";
    option.tooltip.formatter = function (p) {
      return tooltipRows(p.name, [{ name: "Events", value: grouped(p.value) + " (" + (100 * p.value / total).toFixed(1) + "%)", color: p.color }]);
    };
    return option;
  }

  function optionFor(data) {
    if (data.kind === "bar") { return barOption(data); }
    if (data.kind === "pie") { return pieOption(data); }
    return timeseriesOption(data);
  }

  function drawChart(el) {
    if (!window.echarts || el.dataset.drawn) { return; }
    var source = document.getElementById(el.dataset.chart);
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(optionFor(data));
    el.dataset.drawn = "1";
    charts.push({ el: el, chart: chart, data: data });
  }

  function redrawAll() {
    charts = charts.filter(function (c) { return document.body.contains(c.el); });
    charts.forEach(function (c) { c.chart.setOption(optionFor(c.data), true); });
  }

  function within(root, selector) {
    var found = Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll(selector) : []);
    if (root.matches && root.matches(selector)) { found.unshift(root); }
    return found;
  }

  function enhance(root) {
    within(root, "[data-chart]").forEach(drawChart);
    within(root, "[data-share]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, parseFloat(bar.dataset.share) || 0)) + "%";
    });
  }

  /* Cards: an error box with a retry button when a partial fails. */
  function showError(target, url, detail) {
    if (!target) { return; }
    target.textContent = "";
    var box = document.createElement("div");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    var strong = document.createElement("strong");
    strong.textContent = "This card could not be loaded. ";
    box.appendChild(strong);
    box.appendChild(document.createTextNode(detail + " "));
    var retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.addEventListener("click", function () { refreshCard(target, url); });
    box.appendChild(retry);
    target.appendChild(box);
  }

  function refreshCard(target, url) {
    url = url || target.getAttribute("hx-get");
    if (!url || !window.htmx) { return; }
    window.htmx.ajax("GET", url, { target: target, swap: target.getAttribute("hx-swap") || "innerHTML" });
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var detail = xhr.status === 503 ? "The event store is busy or down; try again in a moment."
      : "The server answered " + xhr.status + ".";
    try {  // the server's own words, when it sent an error box
      var box = new DOMParser().parseFromString(xhr.responseText || "", "text/html").querySelector(".error-box");
      if (box) { detail = box.textContent.replace("This card could not be loaded.", "").trim(); }
    } catch (error) { /* keep the generic words */ }
    showError(event.detail.target, event.detail.requestConfig && event.detail.requestConfig.path, detail);
  });
  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.target, event.detail.requestConfig && event.detail.requestConfig.path,
      "The server could not be reached.");
  });

  /* Tabs inside a card mark the selected one. */
  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tab]");
    if (tab) {
      tab.parentElement.querySelectorAll("[data-tab]").forEach(function (other) {
        other.setAttribute("aria-selected", other === tab ? "true" : "false");
      });
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copy);
      var text = source ? source.textContent : "";
      var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
      } else { selectText(source); copy.textContent = "Press Ctrl+C"; }
    }
    var toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
  });

  function selectText(el) {
    if (!el) { return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  /* Forms: the range picker submits on change (custom waits for its dates), confirmations. */
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-range-select]");
    if (select) {
      var form = select.form;
      if (select.value === "custom") { form.classList.add("is-custom"); return; }
      form.classList.remove("is-custom");
      form.querySelectorAll(".custom input").forEach(function (input) { input.disabled = true; });
      form.submit();
      return;
    }
    var auto = event.target.closest("[data-autosubmit]");
    if (auto && auto.form) {
      if (auto.form.querySelector("[data-range-select]") && auto.form.querySelector("[data-range-select]").value !== "custom") {
        auto.form.querySelectorAll(".custom input").forEach(function (input) { input.disabled = true; });
      }
      auto.form.submit();
    }
  });
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.menu[open]").forEach(function (menu) { menu.removeAttribute("open"); });
    }
  });

  /* Live updates: the counter, the current bucket of the open time series, the empty state. */
  function Live(el) {
    this.el = el;
    this.attempt = 0;
    this.socket = null;
    this.connect();
    var self = this;
    setInterval(function () { self.catchUp(); }, 30000);
  }
  Live.prototype.state = function (text, on) {
    var state = this.el.querySelector("[data-live-state]");
    var dot = this.el.querySelector("[data-live-dot]");
    if (state) { state.textContent = text; }
    if (dot) { dot.classList.toggle("on", !!on); }
  };
  Live.prototype.connect = function () {
    var self = this;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try { socket = new WebSocket(scheme + location.host + this.el.dataset.wsPath); } catch (error) { this.retry(); return; }
    this.socket = socket;
    socket.addEventListener("open", function () {
      var reconnected = self.attempt > 0 || self.everOpen;
      self.attempt = 0;
      self.everOpen = true;
      self.state("live", true);
      self.catchUp(reconnected);  // events stored while (re)connecting
    });
    socket.addEventListener("message", function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      self.apply(message);
    });
    socket.addEventListener("close", function () { self.retry(); });
  };
  Live.prototype.retry = function () {
    var self = this;
    this.attempt += 1;
    var delay = Math.min(30, Math.pow(2, this.attempt - 1)) * (0.8 + Math.random() * 0.4);
    this.state("reconnecting in " + Math.round(delay) + " s", false);
    setTimeout(function () { self.connect(); }, delay * 1000);
  };
  Live.prototype.setNumber = function (selector, value) {
    var node = this.el.querySelector(selector);
    if (node && value !== undefined && value !== null) {
      node.textContent = grouped(value);
      node.dataset.value = value;
    }
  };
  Live.prototype.apply = function (message) {
    if (typeof message.stored !== "number") { return; }
    if (this.el.hasAttribute("data-reload-on-event")) { location.reload(); return; }
    var today = this.el.querySelector("[data-live-today]");
    var current = today ? Number(today.dataset.value || today.textContent.replace(/,/g, "")) || 0 : 0;
    var recent = typeof message.recent === "number" ? message.recent : message.stored;
    this.setNumber("[data-live-today]", current + recent);
    if (typeof message.last_minute === "number") { this.setNumber("[data-live-minute]", message.last_minute); }
    charts.forEach(function (c) {
      if (!c.el.hasAttribute("data-live-chart") || c.data.current_index < 0) { return; }
      var line = c.data.series[0].data;
      line[c.data.current_index] = (line[c.data.current_index] || 0) + recent;
      c.chart.setOption(optionFor(c.data), true);
    });
  };
  Live.prototype.catchUp = function (charts_too) {
    var self = this;
    fetch(this.el.dataset.snapshotUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (snapshot) {
        if (!snapshot) { return; }
        if (self.el.hasAttribute("data-reload-on-event")) {
          if (snapshot.has_events) { location.reload(); }
          return;
        }
        self.setNumber("[data-live-today]", snapshot.today);
        self.setNumber("[data-live-minute]", snapshot.last_minute);
        if (charts_too) {
          document.querySelectorAll("[data-live-chart]").forEach(function (chart) {
            var card = chart.closest("[data-card]");
            if (card) { refreshCard(card); }
          });
        }
      })
      .catch(function () { /* the next attempt catches up */ });
  };

  function start() {
    enhance(document);
    document.querySelectorAll("[data-live]").forEach(function (el) { el.live = new Live(el); });
    if (window.htmx) {
      window.htmx.onLoad(function (elt) { enhance(elt); });
    }
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.chart.resize(); }); });
    if (dark) {
      var onChange = function () { redrawAll(); };
      if (dark.addEventListener) { dark.addEventListener("change", onChange); } else { dark.addListener(onChange); }
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  window.analyticsPages = { charts: function () { return charts; } };
})();
