// Studies list: filters (kept in the URL so a filtered list is a deep link), progress
// bars, best loss, smallest network within 1% of the best loss; refreshes while any
// study is queued or running.
(function () {
  "use strict";
  var SN = window.SN;
  var el = SN.el;
  var PAGE = 50;
  var state = { offset: 0, total: 0 };
  var detailCache = {};  // id -> summary of a finished study (never changes again)
  var poller = null;

  var filterName = document.getElementById("filter-name");
  var filterStatus = document.getElementById("filter-status");
  var filterKind = document.getElementById("filter-kind");
  var errorBox = document.getElementById("studies-error");

  function readQuery() {
    var q = new URLSearchParams(window.location.search);
    filterName.value = q.get("q") || "";
    filterStatus.value = q.get("status") || "";
    filterKind.value = q.get("kind") || "";
    state.offset = Math.max(0, parseInt(q.get("offset") || "0", 10) || 0);
  }

  function writeQuery() {
    var q = new URLSearchParams();
    if (filterName.value) { q.set("q", filterName.value); }
    if (filterStatus.value) { q.set("status", filterStatus.value); }
    if (filterKind.value) { q.set("kind", filterKind.value); }
    if (state.offset) { q.set("offset", String(state.offset)); }
    var qs = q.toString();
    window.history.replaceState(null, "", window.location.pathname + (qs ? "?" + qs : ""));
  }

  function items(body) {
    if (Array.isArray(body)) { return body; }
    return (body && (body.items || body.studies || body.comparisons || body.data)) || [];
  }

  function studyName(s) {
    return s.name || (s.spec && s.spec.name) || s.study_name || s.id;
  }

  // Best loss and the smallest network whose loss is within 1% of it, from whatever the
  // API gives: explicit fields, or the Pareto front / best trials of the study.
  function summarise(s) {
    var front = s.pareto_front || s.front || s.best_trials || [];
    var points = front.map(function (p) {
      var values = p.values || [];
      return {
        loss: p.val_loss !== undefined ? p.val_loss : values[0],
        params: p.params !== undefined ? p.params
          : (p.user_attrs && p.user_attrs.params !== undefined ? p.user_attrs.params : values[1])
      };
    }).filter(function (p) { return p.loss !== undefined && p.loss !== null; });
    var best = s.best_val_loss !== undefined ? s.best_val_loss
      : s.best_loss !== undefined ? s.best_loss : null;
    if (best === null && points.length) {
      best = Math.min.apply(null, points.map(function (p) { return p.loss; }));
    }
    var small = s.smallest_within_1pct || null;
    if (!small && best !== null) {
      points.filter(function (p) {
        return p.params !== undefined && p.params !== null && p.loss <= best + Math.abs(best) * 0.01;
      }).forEach(function (p) { if (!small || p.params < small.params) { small = p; } });
    }
    return { best: best, small: small };
  }

  function needsDetail(s) {
    return s.best_val_loss === undefined && s.best_loss === undefined && !s.pareto_front
      && !s.best_trials;
  }

  function withDetail(s) {
    if (!needsDetail(s)) { return Promise.resolve(summarise(s)); }
    if (detailCache[s.id]) { return Promise.resolve(detailCache[s.id]); }
    return SN.api("studies/" + encodeURIComponent(s.id)).then(function (d) {
      var summary = summarise(d);
      if (d.status !== "queued" && d.status !== "running") { detailCache[s.id] = summary; }
      return summary;
    }, function () { return { best: null, small: null }; });
  }

  var table = SN.sortableTable(document.getElementById("studies-table"), [
    { key: "name", label: "Name", value: studyName, cls: "name", format: function (s) {
      return el("a", { href: "studies/" + encodeURIComponent(s.id), text: studyName(s) });
    } },
    { key: "kind", label: "Kind", format: function (s) { return SN.kindLabel(s.arm || s.kind); } },
    { key: "dataset", label: "Dataset", format: function (s) {
      var d = s.dataset;
      return d && typeof d === "object" ? d.name : d || "–";
    } },
    { key: "status", label: "Status", format: function (s) { return SN.statusBadge(s.status); } },
    { key: "progress", label: "Progress", value: function (s) {
      var p = s.progress || {};
      return (Number(p.complete) || 0) / Math.max(Number(p.budget) || 1, 1);
    }, format: function (s) { return SN.progressBar(s.progress); } },
    { key: "best", label: "Best loss", num: true, value: function (s) {
      return s._summary ? s._summary.best : null;
    }, format: function (s) { return s._summary ? SN.fmtNum(s._summary.best) : "…"; } },
    { key: "small", label: "Smallest within 1%", num: true, value: function (s) {
      return s._summary && s._summary.small ? s._summary.small.params : null;
    }, format: function (s) {
      var small = s._summary && s._summary.small;
      return small ? SN.fmtNum(small.params) + " params" : s._summary ? "–" : "…";
    } },
    { key: "comparison", label: "Comparison", value: function (s) { return s.comparison_id || ""; },
      format: function (s) {
        return s.comparison_id ? el("a", {
          href: "comparisons/" + encodeURIComponent(s.comparison_id), text: "compare"
        }) : "–";
      } },
    { key: "created_at", label: "Created", format: function (s) {
      return s.created_at ? new Date(s.created_at).toLocaleString() : "–";
    } }
  ], { sortKey: "created_at", sortDir: -1, rowAttrs: function (s) {
    return { "data-study-id": s.id, "data-status": s.status || "" };
  } });

  function matchesName(s) {
    var q = filterName.value.trim().toLowerCase();
    return !q || String(studyName(s)).toLowerCase().indexOf(q) >= 0;
  }

  function load() {
    writeQuery();
    var q = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE) });
    if (filterStatus.value) { q.set("status", filterStatus.value); }
    if (filterKind.value) { q.set("kind", filterKind.value); }
    return SN.api("studies?" + q.toString()).then(function (body) {
      errorBox.hidden = true;
      var list = items(body).filter(matchesName);
      state.total = body && body.total !== undefined ? body.total : list.length;
      document.getElementById("studies-empty").hidden = list.length > 0;
      document.getElementById("page-info").textContent = state.total
        ? (state.offset + 1) + "–" + Math.min(state.offset + PAGE, state.total) + " of " + state.total
        : "";
      document.getElementById("page-prev").disabled = state.offset === 0;
      document.getElementById("page-next").disabled = state.offset + PAGE >= state.total;
      table.setRows(list);
      return Promise.all(list.map(function (s) {
        return withDetail(s).then(function (summary) { s._summary = summary; });
      })).then(function () {
        table.render();
        return loadComparisons();
      }).then(function () {
        return true;  // keep refreshing: studies may be created elsewhere (CLI, API)
      });
    }, function (err) {
      errorBox.textContent = "Could not load studies: " + err.message;
      errorBox.hidden = false;
      return true;
    });
  }

  var comparisons = SN.sortableTable(document.getElementById("comparisons-table"), [
    { key: "name", label: "Name", cls: "name", format: function (c) {
      return el("a", { href: "comparisons/" + encodeURIComponent(c.id), text: c.name || c.id });
    } },
    { key: "status", label: "Status", format: function (c) { return SN.statusBadge(c.status); } },
    { key: "arms", label: "Arms", value: function (c) {
      var arms = c.arms || [];
      var done = arms.reduce(function (sum, a) {
        return sum + (a.study.progress ? a.study.progress.fraction : 0);
      }, 0);
      return arms.length ? done / arms.length : 0;
    }, format: function (c) {
      return el("div", { className: "arm-list" }, (c.arms || []).map(armCell));
    } },
    { key: "created_at", label: "Created", format: function (c) {
      return c.created_at ? new Date(c.created_at).toLocaleString() : "–";
    } }
  ], { sortKey: "created_at", sortDir: -1, rowAttrs: function (c) {
    return { "data-comparison-id": c.id };
  } });

  // One arm of a comparison: its label in its colour (linked to its study) and progress.
  function armCell(arm) {
    return el("div", { "data-arm": arm.arm, style: "--arm:" + (arm.colour || SN.armColour(arm.arm)) }, [
      el("a", { className: "arm-name", href: "studies/" + encodeURIComponent(arm.study.id) }, [
        el("span", { className: "arm-swatch", "aria-hidden": "true" }), arm.label
      ]),
      SN.progressBar(arm.study.progress)
    ]);
  }

  function loadComparisons() {
    return SN.api("comparisons").then(function (body) {
      var list = items(body);
      document.getElementById("comparisons-empty").hidden = list.length > 0;
      comparisons.setRows(list);
    }, function () {
      document.getElementById("comparisons-empty").hidden = false;
    });
  }

  function restart() {
    if (poller) { poller.stop(); }
    poller = SN.poll(load, 5000);
  }

  document.getElementById("filters").addEventListener("submit", function (e) {
    e.preventDefault();
    state.offset = 0;
    restart();
  });
  [filterStatus, filterKind].forEach(function (s) {
    s.addEventListener("change", function () { state.offset = 0; restart(); });
  });
  filterName.addEventListener("input", function () { restart(); });
  document.getElementById("page-prev").addEventListener("click", function () {
    state.offset = Math.max(0, state.offset - PAGE);
    restart();
  });
  document.getElementById("page-next").addEventListener("click", function () {
    state.offset += PAGE;
    restart();
  });

  readQuery();
  restart();
})();
