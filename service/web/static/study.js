// Study page: facts, plots, sortable trials table, widths of the selected trial, cancel.
// Polls the API every few seconds while the study is queued or running (no reload), and
// stops once it has settled (finished, failed or cancelled).
(function () {
  "use strict";
  var SN = window.SN;
  var el = SN.el;
  var studyId = SN.pageData().studyId;
  var base = "studies/" + encodeURIComponent(studyId);
  var POLL_MS = 3000;
  var selected = null;        // trial number shown in the widths plot
  var userPicked = false;     // the user clicked a row: keep it selected
  var plotSignature = null;   // finished-trial counts when the plots were last drawn
  var trialsSignature = null; // the same, when the trials were last loaded
  var trials = [];
  var detail = null;

  function showError(message) {
    var box = document.getElementById("study-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function lamOf(t) {
    var a = t.attrs || {}, p = t.params || {};
    return a.lam !== undefined ? a.lam : p.lam !== undefined ? p.lam : null;
  }

  function historyOf(t) { return (t.attrs && t.attrs.history) || []; }

  function widthsOf(t) {
    var a = t.attrs || {};
    if (a.final_widths && a.final_widths.length) { return a.final_widths; }
    var h = historyOf(t);
    if (h.length) { return h[h.length - 1].widths || []; }
    var widths = [];
    Object.keys(t.params || {}).sort().forEach(function (k) {
      if (/^width/.test(k)) { widths.push(t.params[k]); }
    });
    return widths;
  }

  function paramsOf(t) {
    var a = t.attrs || {};
    if (a.params !== undefined) { return a.params; }
    var h = historyOf(t);
    return h.length ? h[h.length - 1].params : null;
  }

  function lossOf(t) {
    if (t.values && t.values.length) { return t.values[0]; }
    var h = historyOf(t);
    return h.length ? h[h.length - 1].val_loss : null;
  }

  function accuracyOf(t) {
    var a = t.attrs || {};
    if (a.val_accuracy !== undefined) { return a.val_accuracy; }
    var h = historyOf(t);
    return h.length ? h[h.length - 1].val_accuracy : null;
  }

  function costOf(t) {
    var a = t.attrs || {};
    var c = a.search_cost_macs !== undefined ? a.search_cost_macs : a.cost_macs;
    if (c !== undefined) { return c; }
    return historyOf(t).reduce(function (s, h) { return s + (Number(h.cost_macs) || 0); }, 0);
  }

  var FORMAT_LABELS = { torchscript: "TorchScript", state_dict: "state dict", onnx: "ONNX" };

  function fmtBytes(n) {
    return n >= 1048576 ? (n / 1048576).toPrecision(3) + " MB"
      : n >= 1024 ? (n / 1024).toPrecision(3) + " kB" : String(n) + " B";
  }

  // Download links of a trial's stored network, one per format; "–" with the reason
  // as a tooltip when none is available.
  function modelLinks(number, model) {
    model = model || {};
    if (!model.available) {
      return el("span", { className: "muted", text: "–", title: model.reason || "" });
    }
    var links = el("span", { className: "model-links" });
    model.formats.forEach(function (f, i) {
      if (i) { links.appendChild(document.createTextNode(" · ")); }
      links.appendChild(el("a", {
        href: SN.apiUrl(base + "/trials/" + number + "/model?format=" + f),
        download: true, text: FORMAT_LABELS[f] || f,
        title: "Download trial " + number + " as " + (FORMAT_LABELS[f] || f) + " ("
          + fmtBytes((model.bytes || {})[f] || 0) + ")",
        onclick: function (ev) { ev.stopPropagation(); }
      }));
    });
    return links;
  }

  function trialByNumber(number) {
    return trials.filter(function (t) { return t.number === number; })[0];
  }

  // The networks on the Pareto front, smallest first, each with its downloads.
  function renderFront(front) {
    var list = SN.clear(document.getElementById("front-models"));
    var points = (front || []).slice().sort(function (a, b) { return a.params - b.params; });
    document.getElementById("front-empty").hidden = points.length > 0;
    points.forEach(function (p) {
      var t = trialByNumber(p.trial_number);
      list.appendChild(el("li", { "data-trial": String(p.trial_number) }, [
        el("a", { href: "#", text: "trial " + p.trial_number, onclick: function (ev) {
          ev.preventDefault();
          userPicked = true;
          selectTrial(p.trial_number);
        } }),
        " — " + SN.fmtNum(p.params) + " params, val loss " + SN.fmtNum(p.val_loss) + ": ",
        modelLinks(p.trial_number, t && t.model)
      ]));
    });
  }

  function stateBadge(t) {
    var s = String(t.state).toLowerCase();
    return SN.statusBadge(s === "complete" ? "finished" : s === "fail" ? "failed" : s);
  }

  var table = SN.sortableTable(document.getElementById("trials-table"), [
    { key: "number", label: "#", num: true, format: function (t) { return String(t.number); } },
    { key: "state", label: "State", format: stateBadge },
    { key: "lam", label: "λ", num: true, value: lamOf,
      format: function (t) { return SN.fmtNum(lamOf(t), 3); } },
    { key: "widths", label: "Widths", value: function (t) {
      return widthsOf(t).reduce(function (a, b) { return a * b; }, 1);
    }, format: function (t) { return widthsOf(t).join(" × ") || "–"; } },
    { key: "params", label: "Params", num: true, value: paramsOf,
      format: function (t) { return SN.fmtNum(paramsOf(t)); } },
    { key: "loss", label: "Val loss", num: true, value: lossOf,
      format: function (t) { return SN.fmtNum(lossOf(t)); } },
    { key: "acc", label: "Val acc.", num: true, value: accuracyOf,
      format: function (t) { return SN.fmtNum(accuracyOf(t), 3); } },
    { key: "epochs", label: "Epochs", num: true, value: function (t) {
      return historyOf(t).length;
    }, format: function (t) { return String(historyOf(t).length); } },
    { key: "cost", label: "MACs", num: true, value: costOf,
      format: function (t) { return SN.fmtCompute(costOf(t)); } },
    { key: "duration_s", label: "Time (s)", num: true,
      format: function (t) { return SN.fmtNum(t.duration_s, 3); } },
    { key: "model", label: "Network", value: function (t) {
      return t.model && t.model.available ? 1 : 0;
    }, format: function (t) { return modelLinks(t.number, t.model); } }
  ], {
    sortKey: "number", sortDir: 1,
    rowAttrs: function (t) {
      return { "data-trial": String(t.number), "class": t.number === selected ? "selected" : "" };
    },
    onRowClick: function (t) {
      userPicked = true;
      selectTrial(t.number);
    }
  });

  function selectTrial(number) {
    selected = number;
    document.querySelectorAll("#trials-table tbody tr").forEach(function (tr) {
      tr.classList.toggle("selected", tr.dataset.trial === String(number));
    });
    drawWidths();
  }

  // Widths over epochs of the selected trial, drawn from its per-epoch history.
  function drawWidths() {
    var t = trials.filter(function (x) { return x.number === selected; })[0];
    var labels = [document.getElementById("widths-trial"), document.getElementById("loss-trial")];
    if (!t) {
      labels.forEach(function (l) { l.textContent = ""; });
      ["plot-widths", "plot-loss"].forEach(function (id) {
        SN.plotMessage(id, "Click a trial in the table.");
      });
      return;
    }
    var lam = lamOf(t);
    labels.forEach(function (l) {
      l.textContent = "— trial " + t.number
        + (lam !== null ? " (λ = " + SN.fmtNum(lam, 3) + ")" : "");
    });
    var h = historyOf(t);
    if (!h.length) {
      ["plot-widths", "plot-loss"].forEach(function (id) {
        SN.plotMessage(id, "Trial " + t.number + " has no finished epoch yet.");
      });
      return;
    }
    drawLoss(h);
    var initial = (t.attrs && t.attrs.initial_widths) || [];
    var layers = (h[0].widths || []).length;
    var data = [];
    for (var layer = 0; layer < layers; layer++) {
      var xs = [], ys = [];
      if (initial.length > layer) { xs.push(0); ys.push(initial[layer]); }
      h.forEach(function (rec) { xs.push(rec.epoch); ys.push(rec.widths[layer]); });
      data.push({ x: xs, y: ys, mode: "lines+markers", name: "layer " + (layer + 1) });
    }
    SN.plot("plot-widths", { data: data, layout: {
      xaxis: { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "live width" }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 }, margin: { t: 20 }
    } });
  }

  // Validation loss (and accuracy, for classification) per epoch of the selected trial.
  function drawLoss(h) {
    var xs = h.map(function (rec) { return rec.epoch; });
    var data = [{ x: xs, y: h.map(function (rec) { return rec.val_loss; }),
                  mode: "lines+markers", name: "validation loss" }];
    var hasAcc = h.some(function (rec) { return rec.val_accuracy !== null && rec.val_accuracy !== undefined; });
    if (hasAcc) {
      data.push({ x: xs, y: h.map(function (rec) { return rec.val_accuracy; }), yaxis: "y2",
                  mode: "lines+markers", line: { dash: "dash" }, name: "validation accuracy" });
    }
    SN.plot("plot-loss", { data: data, layout: {
      xaxis: { title: { text: "epoch" }, dtick: 1 },
      yaxis: { title: { text: "validation loss" } },
      yaxis2: hasAcc ? { title: { text: "accuracy", standoff: 8 }, overlaying: "y",
                         side: "right", automargin: true, range: [0, 1], dtick: 0.2,
                         tickformat: ".0%", showgrid: false } : undefined,
      legend: { orientation: "h", y: -0.2 }, margin: { t: 20 }
    } });
  }

  function drawPlots() {
    var isLambda = detail && detail.kind !== "width";
    var jobs = [["size-space", "plot-size-space"], ["pareto", "plot-pareto"]];
    // a width search has no λ: its card is hidden rather than left empty
    document.getElementById("lambda-panel").hidden = !isLambda;
    if (isLambda) { jobs.push(["lambda", "plot-lambda"]); }
    return Promise.all(jobs.map(function (job) {
      return SN.api(base + "/plots/" + job[0]).then(function (fig) {
        return SN.plot(job[1], fig);
      }, function (err) { SN.plotMessage(job[1], "Plot unavailable: " + err.message); });
    }));
  }

  // Best loss and the smallest network within 1% of it, from the Pareto front (the
  // smallest such network is always on the front).
  function bestAndSmallest(front) {
    var best = front.reduce(function (b, p) { return !b || p.val_loss < b.val_loss ? p : b; }, null);
    var small = null;
    if (best) {
      front.forEach(function (p) {
        var close = p.val_loss <= best.val_loss + Math.abs(best.val_loss) * 0.01;
        if (close && (!small || p.params < small.params)) { small = p; }
      });
    }
    return { best: best, small: small };
  }

  function renderFacts(d) {
    document.getElementById("study-name").textContent = d.name || d.id;
    document.title = (d.name || d.id) + " · ShrinkNets";
    SN.clear(document.getElementById("study-status")).appendChild(SN.statusBadge(d.status));
    SN.clear(document.getElementById("study-progress")).appendChild(SN.progressBar(d.progress));
    if (d.comparison_id) {
      var link = document.querySelector("#comparison-link a");
      link.setAttribute("href", "comparisons/" + encodeURIComponent(d.comparison_id));
      document.getElementById("comparison-link").hidden = false;
    }
    var spec = d.spec || {};
    var arch = spec.architecture || {}, train = spec.training || {}, search = spec.search || {};
    var found = bestAndSmallest(d.pareto_front || []);
    var best = found.best, small = found.small;
    var step = train.lam_scale === "none" ? "proximal" : "layer-normalised";
    var calibrated = d.kind === "lambda_path" && (search.path || {}).calibrate !== false;
    var lamRange = d.kind === "width" ? ""
      : d.kind === "prune_path" ? ", λ = 0, pruned by " + ((search.path || {}).importance || "l2")
        + " importance to size targets"
      : calibrated ? ", λ grid calibrated from the data (" + step + " step)"
      : search.lam_min == null && search.lam_max == null
        ? ", λ in the " + step + " step's default range"
        : ", λ ∈ [" + (search.lam_min == null ? "default" : SN.fmtNum(search.lam_min)) + ", "
          + (search.lam_max == null ? "default" : SN.fmtNum(search.lam_max)) + "]";
    var facts = [
      ["Kind", SN.kindLabel(d.arm || d.kind)],
      ["Dataset", d.dataset],
      ["Network", String(arch.kind || "mlp").toUpperCase() + ", " + arch.depth
        + " hidden layers, max width " + arch.max_width],
      ["Training", train.epochs + " epochs, " + train.optimizer + ", lr "
        + SN.fmtNum(train.lr) + ", λ₂ " + SN.fmtNum(train.lam2)],
      ["Search", (search.n_trials || d.n_trials) + " trials, " + search.sampler + lamRange],
      ["Best val loss", best ? SN.fmtNum(best.val_loss) + " (trial " + best.trial_number
        + ", " + SN.fmtNum(best.params) + " params)" : "–"],
      ["Smallest within 1%", small ? SN.fmtNum(small.params) + " params (trial "
        + small.trial_number + ", loss " + SN.fmtNum(small.val_loss) + ")" : "–"],
      ["Optuna study", d.study_name],
      ["Created", d.created_at ? new Date(d.created_at).toLocaleString() : "–"]
    ];
    if (d.error) { facts.push(["Error", d.error]); }
    (d.notes || []).forEach(function (note) { facts.push(["Not used", note]); });
    var dl = SN.clear(document.getElementById("facts"));
    facts.forEach(function (f) {
      dl.appendChild(el("dt", { text: f[0] }));
      dl.appendChild(el("dd", { text: f[1] === undefined || f[1] === null ? "–" : f[1] }));
    });
    var active = d.status === "queued" || d.status === "running";
    document.getElementById("cancel-button").hidden = !active;
    document.getElementById("live-note").hidden = !active;
  }

  // trials.json carries every trial with its per-epoch history (the paged /trials
  // route leaves the history out), which the widths plot needs.
  function loadTrials() {
    return SN.api(base + "/trials.json").then(function (body) {
      return (body && body.trials) || [];
    });
  }

  function defaultTrial() {
    var running = trials.filter(function (t) { return t.state === "RUNNING"; });
    if (running.length) { return running[running.length - 1].number; }
    var done = trials.filter(function (t) { return lossOf(t) !== null && lossOf(t) !== undefined; });
    done.sort(function (a, b) { return lossOf(a) - lossOf(b); });
    return done.length ? done[0].number : trials.length ? trials[0].number : null;
  }

  function refresh() {
    return SN.api(base).then(function (d) {
      detail = d;
      showError("");
      renderFacts(d);
      var p = d.progress || {};
      var finished = [p.complete, p.pruned, p.failed, d.status].join("/");
      var plots = finished !== plotSignature ? drawPlots() : Promise.resolve();
      plotSignature = finished;
      // Reload the trials when one finished, or while any runs (its epochs grow live).
      var needTrials = finished !== trialsSignature || Number(p.running) > 0;
      trialsSignature = finished;
      var loaded = needTrials ? loadTrials().then(function (items) {
        trials = items;
        document.getElementById("trials-empty").hidden = items.length > 0;
        if (!userPicked || selected === null) { selected = defaultTrial(); }
        table.setRows(trials);
        drawWidths();
        renderFront(d.pareto_front);
      }) : Promise.resolve();
      return Promise.all([plots, loaded]).then(function () {
        return d.status === "queued" || d.status === "running";
      });
    }, function (err) {
      if (err.status === 404) {
        showError("Study " + studyId + " does not exist. " + err.message);
        ["plot-size-space", "plot-widths", "plot-loss", "plot-lambda", "plot-pareto"].forEach(function (id) {
          SN.plotMessage(id, "No such study.");
        });
        return false;
      }
      showError("Could not load the study: " + err.message + " (retrying)");
      return true;
    });
  }

  SN.livePage(refresh, POLL_MS, base + "/cancel",
    "Cancel this study? Running trials stop at their next epoch.");
})();
