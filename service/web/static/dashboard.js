// ShrinkNets dashboard: shared helpers (window.SN). Vanilla JS, no framework, no CDN.
//
// Every URL is relative to <base href> (the app's root_path + "/"), so the pages work
// unchanged under a path prefix behind a reverse proxy. User strings are only ever put
// into the page with textContent (SN.el), never innerHTML.
(function () {
  "use strict";
  var TOKEN_KEY = "shrinknets-token";
  var THEME_KEY = "shrinknets-theme";

  function url(path) {
    return new URL(path, document.baseURI).toString();
  }

  function apiUrl(path) {
    return url("api/v1/" + path.replace(/^\/+/, ""));
  }

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function setToken(value) {
    try {
      if (value) { sessionStorage.setItem(TOKEN_KEY, value); }
      else { sessionStorage.removeItem(TOKEN_KEY); }
    } catch (e) { /* storage disabled */ }
  }

  function ApiError(status, body, message) {
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  // The human message of an API error body, whatever its exact shape.
  function errorMessage(body, status) {
    if (!body) { return "HTTP " + status; }
    if (typeof body === "string") { return body; }
    var d = body.detail !== undefined ? body.detail : body.error !== undefined ? body.error : body;
    if (typeof d === "string") { return d; }
    if (Array.isArray(d)) {
      return d.map(function (e) { return e.msg || e.message || JSON.stringify(e); }).join("; ");
    }
    if (d && typeof d === "object") {
      return d.message || d.msg || d.detail || JSON.stringify(d);
    }
    return "HTTP " + status;
  }

  // fetch + JSON; mutations carry the bearer token from the login field.
  // options: {method, body (sent as JSON), form (a FormData, sent as multipart)}.
  function api(path, options) {
    options = options || {};
    var headers = { "Accept": "application/json" };
    var init = { method: options.method || "GET", headers: headers };
    if (options.form !== undefined) {
      init.body = options.form;  // multipart/form-data (file uploads); the browser sets the type
    } else if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    var token = getToken();
    if (token && init.method !== "GET") { headers["Authorization"] = "Bearer " + token; }
    return fetch(apiUrl(path), init).then(function (resp) {
      var type = resp.headers.get("content-type") || "";
      var parse = type.indexOf("json") >= 0 ? resp.json() : resp.text();
      return parse.then(function (body) {
        if (!resp.ok) { throw new ApiError(resp.status, body, errorMessage(body, resp.status)); }
        return body;
      }, function () {
        if (!resp.ok) { throw new ApiError(resp.status, null, "HTTP " + resp.status); }
        return null;
      });
    });
  }

  // Build an element; text children become text nodes (escaped by construction).
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) { return; }
        if (key === "text") { node.textContent = String(value); }
        else if (key === "className") { node.className = value; }
        else if (key.slice(0, 2) === "on" && typeof value === "function") {
          node.addEventListener(key.slice(2), value);
        } else { node.setAttribute(key, value === true ? "" : String(value)); }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
    return node;
  }

  // Numbers as people read them: 1,234 / 0.3104 / 1.5e-4 (no trailing zeros).
  function fmtNum(value, digits) {
    if (value === null || value === undefined || value === "" || isNaN(value)) { return "–"; }
    var v = Number(value);
    var d = digits === undefined ? 4 : digits;
    if (Number.isInteger(v) && Math.abs(v) < 1e7) { return v.toLocaleString("en-US"); }
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e7)) {
      return v.toExponential(Math.max(d - 2, 1)).replace(/\.?0+e/, "e");
    }
    return String(Number(v.toPrecision(d)));
  }

  function fmtCompute(value) {
    if (value === null || value === undefined || isNaN(value)) { return "–"; }
    var v = Number(value);
    var units = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(v) >= units[i][0]) { return (v / units[i][0]).toPrecision(3) + units[i][1]; }
    }
    return v.toFixed(0);
  }

  // The arms' order, labels and colours (studies.arms), from the JSON the page template
  // embeds: one source for every page, figure and table.
  var ARMS = (function () {
    var node = document.getElementById("sn-arms");
    try {
      var meta = JSON.parse(node ? node.textContent : "{}");
      return {
        order: meta.order || [], defaults: meta.defaults || [],
        labels: meta.labels || {}, colours: meta.colours || {}
      };
    } catch (e) {
      return { order: [], defaults: [], labels: {}, colours: {} };
    }
  })();

  // A study kind or arm as people read it ("width_hyperband" -> "width search + Hyperband").
  function kindLabel(kind) { return ARMS.labels[kind] || String(kind || "–"); }

  // The arm's colour (the same on every figure and page); muted for an unknown arm.
  function armColour(arm) { return ARMS.colours[arm] || cssVar("--muted"); }

  function statusBadge(status) {
    var s = String(status || "unknown");
    return el("span", { className: "badge " + s, text: s });
  }

  // complete/pruned/running/failed of budget as a stacked bar plus a label. A study its
  // trial count does not bound (a λ path refining until its compute budget is spent) fills
  // the bar by the compute it spent, in the same proportions.
  var KEYS = ["complete", "pruned", "running", "failed"];

  function progressBar(progress) {
    var p = progress || {};
    var bound = p.trials_bound !== false;
    var total = KEYS.reduce(function (sum, key) { return sum + (Number(p[key]) || 0); }, 0);
    var scale = bound ? 100 / Math.max(Number(p.budget) || 0, 1)
      : (100 * (Number(p.fraction) || 0)) / Math.max(total, 1);
    var parts = KEYS.map(function (key) {
      var n = Number(p[key]) || 0;
      return el("span", {
        className: key, title: n + " " + key,
        style: "width:" + Math.min(100, scale * n).toFixed(1) + "%"
      });
    });
    var label = bound ? (Number(p.complete) || 0) + "/" + (Number(p.budget) || 0) + " complete"
      : (Number(p.complete) || 0) + " complete, " +
        Math.round(100 * (Number(p.fraction) || 0)) + " % of its compute";
    if (Number(p.pruned)) { label += ", " + p.pruned + " pruned"; }
    if (Number(p.running)) { label += ", " + p.running + " running"; }
    if (Number(p.failed)) { label += ", " + p.failed + " failed"; }
    return el("div", { className: "progress-cell" }, [
      el("div", {
        className: "progress", role: "progressbar",
        "aria-valuemin": 0, "aria-valuemax": p.budget || 0, "aria-valuenow": p.complete || 0
      }, parts),
      el("div", { className: "progress-label", text: label })
    ]);
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Viridis without its darkest quarter: on the dark panel every marker stays visible.
  var DARK_SCALE = [[0, "#3b528b"], [0.25, "#2c728e"], [0.5, "#21918c"], [0.75, "#5ec962"],
                    [1, "#fde725"]];

  // A wide log x axis ticked at 1, 2 and 5 of each decade ("D2", studies/plots.py) crowds
  // its labels below about 360 px: there it is ticked at the powers of ten only.
  function fitNarrowAxes(div, layout) {
    var width = div.clientWidth || 0;
    Object.keys(layout).forEach(function (key) {
      var axis = layout[key];
      if (!/^xaxis\d*$/.test(key) || !axis || axis.dtick !== "D2") { return; }
      var domain = axis.domain || [0, 1];
      if (width * (domain[1] - domain[0]) < 360) {
        layout[key] = Object.assign({}, axis, { dtick: 1 });
      }
    });
    return layout;
  }

  // Theme the figure's background, fonts, grid and colour scale from the CSS variables.
  function themedLayout(layout) {
    var fg = cssVar("--fg"), grid = cssVar("--border"), muted = cssVar("--muted");
    var out = Object.assign({}, layout || {});
    out.paper_bgcolor = "rgba(0,0,0,0)";
    out.plot_bgcolor = "rgba(0,0,0,0)";
    out.font = Object.assign({}, out.font || {}, { color: fg });
    out.autosize = true;
    out.margin = Object.assign({ l: 60, r: 20, t: 30, b: 50 }, out.margin || {});
    Object.keys(out).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        out[key] = Object.assign({}, out[key], { gridcolor: grid, zerolinecolor: grid, linecolor: muted });
      }
    });
    if (out.legend) { out.legend = Object.assign({}, out.legend, { bgcolor: "rgba(0,0,0,0)" }); }
    if (out.coloraxis && currentTheme() === "dark") {
      out.coloraxis = Object.assign({}, out.coloraxis, { colorscale: DARK_SCALE });
    }
    delete out.template;
    return out;
  }

  var plotted = [];

  // The panel's heading names the plot, so the figure's own title is dropped; a
  // parenthetical in it (e.g. the hypervolume reference point) becomes a caption.
  function caption(div, layout) {
    var title = layout.title;
    var text = typeof title === "string" ? title : title && title.text ? title.text : "";
    var match = /\(([^)]*)\)\s*$/.exec(text);
    var node = div.previousElementSibling;
    if (!node || !node.classList.contains("plot-caption")) {
      if (!match) { return; }
      node = el("p", { className: "plot-caption muted" });
      div.parentNode.insertBefore(node, div);
    }
    node.textContent = match ? match[1] : "";
  }

  // Draw (or redraw in place) a plotly figure JSON {data, layout} into a div.
  function plot(div, figure) {
    if (typeof div === "string") { div = document.getElementById(div); }
    if (!div || !window.Plotly) { return Promise.resolve(); }
    var fig = figure || { data: [], layout: {} };
    var layout = Object.assign({}, fig.layout || {});
    caption(div, layout);
    delete layout.title;
    var empty = div.querySelector(".empty");
    if (empty) { empty.remove(); }
    div.dataset.layout = JSON.stringify(layout);
    if (plotted.indexOf(div) < 0) { plotted.push(div); }
    return window.Plotly.react(div, fig.data || [], themedLayout(fitNarrowAxes(div, layout)), {
      responsive: true, displaylogo: false
    }).then(function () { div.dataset.drawn = String((fig.data || []).length); });
  }

  function plotMessage(div, message) {
    if (typeof div === "string") { div = document.getElementById(div); }
    if (!div) { return; }
    if (window.Plotly && div.data) { window.Plotly.purge(div); }
    clear(div).appendChild(el("div", { className: "empty", text: message }));
  }

  function retheme() {
    plotted.forEach(function (div) {
      if (!div.data || !window.Plotly) { return; }
      var layout = JSON.parse(div.dataset.layout || "{}");
      window.Plotly.relayout(div, themedLayout(fitNarrowAxes(div, layout)));
    });
  }

  function currentTheme() {
    var pinned = document.documentElement.getAttribute("data-theme");
    if (pinned) { return pinned; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function initTheme() {
    var button = document.getElementById("theme-toggle");
    function label() {
      if (button) { button.textContent = currentTheme() === "dark" ? "☀ Light" : "☾ Dark"; }
    }
    label();
    if (button) {
      button.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        document.documentElement.setAttribute("data-theme", next);
        try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* not kept */ }
        label();
        retheme();
      });
    }
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) { mq.addEventListener("change", function () { label(); retheme(); }); }
    }
  }

  function initToken() {
    var input = document.getElementById("token-input");
    if (!input) { return; }
    input.value = getToken();
    input.addEventListener("change", function () { setToken(input.value.trim()); });
  }

  // Call fn now and every intervalMs until it returns/resolves false or stop() is called.
  // Pauses while the tab is hidden so an idle tab does not poll the server.
  function poll(fn, intervalMs) {
    var timer = null, stopped = false;
    function schedule() {
      if (!stopped) { timer = setTimeout(tick, intervalMs); }
    }
    function tick() {
      if (stopped) { return; }
      if (document.hidden) { schedule(); return; }
      Promise.resolve().then(fn).then(function (more) {
        if (more === false) { stopped = true; } else { schedule(); }
      }, function (err) {
        console.error(err);
        schedule();
      });
    }
    tick();
    return { stop: function () { stopped = true; if (timer) { clearTimeout(timer); } } };
  }

  // A sortable table: columns [{key, label, num, format(row) -> node|string, value(row)}].
  function sortableTable(table, columns, options) {
    options = options || {};
    var state = { key: options.sortKey || null, dir: options.sortDir || 1, rows: [] };
    var thead = el("thead"), tbody = el("tbody");
    clear(table).appendChild(thead);
    table.appendChild(tbody);
    var headRow = el("tr");
    columns.forEach(function (col) {
      var th = el("th", {
        className: "sortable" + (col.num ? " num" : ""), text: col.label, "data-key": col.key,
        scope: "col"
      });
      th.addEventListener("click", function () {
        state.dir = state.key === col.key ? -state.dir : 1;
        state.key = col.key;
        render();
      });
      headRow.appendChild(th);
    });
    thead.appendChild(headRow);

    function valueOf(col, row) {
      return col.value ? col.value(row) : row[col.key];
    }

    function render() {
      var rows = state.rows.slice();
      var col = columns.filter(function (c) { return c.key === state.key; })[0];
      if (col) {
        rows.sort(function (a, b) {
          var va = valueOf(col, a), vb = valueOf(col, b);
          var na = va === null || va === undefined, nb = vb === null || vb === undefined;
          if (na || nb) { return na === nb ? 0 : na ? 1 : -1; }
          return (va < vb ? -1 : va > vb ? 1 : 0) * state.dir;
        });
      }
      Array.prototype.forEach.call(headRow.children, function (th) {
        th.classList.toggle("sorted-asc", th.dataset.key === state.key && state.dir === 1);
        th.classList.toggle("sorted-desc", th.dataset.key === state.key && state.dir === -1);
      });
      clear(tbody);
      rows.forEach(function (row) {
        var tr = el("tr");
        if (options.rowAttrs) {
          var attrs = options.rowAttrs(row);
          Object.keys(attrs).forEach(function (k) { tr.setAttribute(k, attrs[k]); });
        }
        if (options.onRowClick) {
          tr.classList.add("clickable");
          tr.addEventListener("click", function () { options.onRowClick(row, tr); });
        }
        columns.forEach(function (c) {
          var content = c.format ? c.format(row) : fmtNum(valueOf(c, row));
          var td = el("td", { className: (c.num ? "num" : "") + (c.cls ? " " + c.cls : "") });
          if (content !== null && typeof content === "object") { td.appendChild(content); }
          else { td.textContent = content === undefined || content === null ? "–" : String(content); }
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      if (options.afterRender) { options.afterRender(tbody); }
    }

    return {
      setRows: function (rows) { state.rows = rows || []; render(); },
      render: render
    };
  }

  // A live page: poll `refresh` every `ms` (it stops by itself when `refresh` says the
  // page is done), and wire the cancel button to POST `cancelUrl`, then poll again at once.
  function livePage(refresh, ms, cancelUrl, confirmText) {
    var poller = null;
    function restart() {
      if (poller) { poller.stop(); }
      poller = poll(refresh, ms);
    }
    document.getElementById("cancel-button").addEventListener("click", function () {
      if (!window.confirm(confirmText)) { return; }
      var box = document.getElementById("cancel-error");
      box.hidden = true;
      api(cancelUrl, { method: "POST" }).then(restart, function (err) {
        box.textContent = "Cancel failed: " + err.message;
        box.hidden = false;
      });
    });
    restart();
  }

  function pageData() { return document.body.dataset; }

  window.SN = {
    url: url, apiUrl: apiUrl, api: api, ApiError: ApiError, errorMessage: errorMessage,
    el: el, clear: clear, fmtNum: fmtNum, fmtCompute: fmtCompute, kindLabel: kindLabel,
    arms: ARMS, armColour: armColour,
    statusBadge: statusBadge, progressBar: progressBar, plot: plot, plotMessage: plotMessage,
    poll: poll, livePage: livePage, sortableTable: sortableTable, getToken: getToken, setToken: setToken,
    pageData: pageData, cssVar: cssVar
  };

  document.addEventListener("DOMContentLoaded", function () {
    initTheme();
    initToken();
  });
})();
