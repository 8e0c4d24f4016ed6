// Comparison page: every arm of a comparison (one study each, same spec) side by side.
// One row per arm (in the arm's colour), the reference sentence, the best loss at a
// parameter budget, the sensitivity of the compute shares, the overlaid figures and the
// JSON/CSV downloads. Every number comes from the API's metrics (studies.compare);
// polls while any arm runs.
(function () {
  "use strict";
  var SN = window.SN;
  var el = SN.el;
  var comparisonId = SN.pageData().comparisonId;
  var base = "comparisons/" + encodeURIComponent(comparisonId);
  var POLL_MS = 4000;
  var plotSignature = null;

  function showError(message) {
    var box = document.getElementById("comparison-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function trialsText(n) { return n + (Number(n) === 1 ? " trial" : " trials"); }

  function shareText(share) {
    return share === null || share === undefined ? "–" : SN.fmtNum(share, 3) + "×";
  }

  // The arm's name in its colour (a swatch and the label), linked to its study.
  function armName(arm) {
    var colour = arm.colour || SN.armColour(arm.arm);
    return el("a", {
      className: "arm-name", href: "studies/" + encodeURIComponent(arm.study.id),
      style: "--arm:" + colour, title: arm.study.name + " (" + arm.study.study_name + ")"
    }, [el("span", { className: "arm-swatch", "aria-hidden": "true" }), arm.label]);
  }

  // The metrics of every arm by arm name, and the arms (study, label, colour) in order.
  function joined(c) {
    var m = c.metrics || {};
    var byArm = {};
    (m.arms || []).forEach(function (a) { byArm[a.arm] = a; });
    return (c.arms || []).map(function (a) {
      return Object.assign({}, a, { m: byArm[a.arm] || {} });
    });
  }

  function sentence(parts) {
    var p = el("p");
    parts.forEach(function (part) {
      p.appendChild(typeof part === "string" ? document.createTextNode(part)
        : el("strong", { text: part.strong }));
    });
    return p;
  }

  // The plain-language summary: each arm against the baseline's level.
  function summary(c, arms) {
    var m = c.metrics || {};
    var baseline = arms.filter(function (a) { return a.arm === m.baseline; })[0];
    if (!baseline || !m.region) {
      var name = baseline ? baseline.label : "the baseline";
      return [sentence(["Waiting for " + name + " to complete a trial: it sets the useful "
        + "region and the level every arm is measured against."])];
    }
    var prefix = c.status === "queued" || c.status === "running" ? "So far (still running): " : "";
    var reach = baseline.m.compute_to_reach || {};
    var out = [];
    arms.forEach(function (a) {
      if (a.arm === baseline.arm) { return; }
      var s = a.m;
      if (s.reached && s.compute_to_reach) {
        out.push(sentence([prefix + a.label + " reached " + baseline.label + "'s useful "
          + "hypervolume with ", { strong: shareText(s.compute_share) + " its compute" },
          " (" + SN.fmtCompute(s.compute_to_reach.cost_macs) + " MACs in "
          + trialsText(s.compute_to_reach.trials) + ", against "
          + SN.fmtCompute(reach.cost_macs) + " MACs)."]));
      } else {
        var part = baseline.m.hypervolume > 0
          ? (100 * (s.hypervolume || 0) / baseline.m.hypervolume).toFixed(0) + "%" : "–";
        out.push(sentence([prefix + a.label + " has ", { strong: "not reached" }, " "
          + baseline.label + "'s useful hypervolume (" + part + " of it) after "
          + shareText(s.compute_share) + " its compute."]));
      }
    });
    var losses = arms.filter(function (a) { return a.m.best_val_loss !== null
      && a.m.best_val_loss !== undefined; });
    if (losses.length) {
      out.push(sentence(["Best validation loss: " + losses.map(function (a) {
        return a.label + " " + SN.fmtNum(a.m.best_val_loss);
      }).join(", ") + "."]));
    }
    return out;
  }

  function within(net) {
    if (!net) { return "none"; }
    var widths = (net.widths || []).join("×");
    return SN.fmtNum(net.params) + " params" + (widths ? " (" + widths + ")" : "")
      + ", loss " + SN.fmtNum(net.val_loss);
  }

  var armsTable = null;

  function drawArms(c, arms) {
    var m = c.metrics || {};
    var tolerance = Math.round(100 * (m.loss_tolerance === undefined ? 0.1 : m.loss_tolerance));
    if (!armsTable) {
      armsTable = SN.sortableTable(document.getElementById("arms-table"), [
        { key: "arm", label: "Arm", value: function (a) { return a.label; }, format: armName },
        { key: "status", label: "Status", value: function (a) {
          return a.study.progress ? a.study.progress.fraction : 0;
        }, format: function (a) {
          return el("div", {}, [SN.statusBadge(a.study.status), SN.progressBar(a.study.progress)]);
        } },
        { key: "trials", label: "Complete / pruned", num: true,
          value: function (a) { return a.m.n_complete; },
          format: function (a) {
            var text = (a.m.n_complete || 0) + " / " + (a.m.n_pruned || 0);
            return a.m.n_failed ? text + " (" + a.m.n_failed + " failed)" : text;
          } },
        { key: "best", label: "Best val loss", num: true,
          value: function (a) { return a.m.best_val_loss; } },
        { key: "hv", label: "Useful hypervolume", num: true,
          value: function (a) { return a.m.hypervolume; } },
        { key: "share", label: "Compute share to the level", num: true,
          value: function (a) { return a.m.compute_share; },
          format: function (a) {
            var text = shareText(a.m.compute_share);
            return a.arm === m.baseline ? text + " (baseline)" : text;
          } },
        { key: "reached", label: "Reached", value: function (a) { return a.m.reached ? 1 : 0; },
          format: function (a) { return m.region ? (a.m.reached ? "reached" : "never") : "–"; } },
        { key: "hv_base", label: "Hypervolume at the baseline's compute", num: true,
          value: function (a) { return a.m.hv_at_baseline_compute; } },
        { key: "test_hv", label: "Test hypervolume of its front", num: true,
          value: function (a) { return a.m.test_hypervolume; } },
        { key: "test_hv_base", label: "Test hypervolume at the baseline's compute", num: true,
          value: function (a) { return a.m.test_hv_at_baseline_compute; } },
        { key: "within", label: "Smallest within " + tolerance + " % of the best loss",
          value: function (a) {
            return a.m.smallest_within_loss ? a.m.smallest_within_loss.params : null;
          }, format: function (a) { return within(a.m.smallest_within_loss); } }
      ], { rowAttrs: function (a) {
        return { "data-arm": a.arm, style: "--arm:" + (a.colour || SN.armColour(a.arm)) };
      } });
    }
    armsTable.setRows(arms);
  }

  function armHeader(a) {
    return el("th", { className: "num", scope: "col" }, [armName(a)]);
  }

  function drawParams(arms) {
    var table = SN.clear(document.getElementById("params-table"));
    var levels = ((arms[0] || {}).m || {}).best_loss_at_params || [];
    if (!levels.length) {
      table.appendChild(el("caption", { className: "muted", text: "No complete trial yet." }));
      return;
    }
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: "Parameters" })]
      .concat(arms.map(armHeader)))]));
    var body = el("tbody");
    levels.forEach(function (level, i) {
      var row = el("tr", {}, [el("td", { text: "≤ " + SN.fmtNum(level.params_at_most) })]);
      arms.forEach(function (a) {
        var cell = (a.m.best_loss_at_params || [])[i] || {};
        var text = cell.val_loss === null || cell.val_loss === undefined ? "–"
          : SN.fmtNum(cell.val_loss) + " (" + SN.fmtNum(cell.params) + ")";
        row.appendChild(el("td", { className: "num", text: text }));
      });
      body.appendChild(row);
    });
    table.appendChild(body);
  }

  function drawSensitivity(c, arms) {
    var m = c.metrics || {};
    var table = SN.clear(document.getElementById("sensitivity-table"));
    var factors = Object.keys(m.sensitivity || {}).sort(function (x, y) { return x - y; });
    if (!factors.length) { return; }
    var head = "Useful factor (× the baseline's best loss)";
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { scope: "col", text: head })]
      .concat(arms.map(armHeader)))]));
    var body = el("tbody");
    var used = m.region ? Number(m.region.factor) : null;
    factors.forEach(function (factor) {
      var label = factor + "×" + (Number(factor) === used ? " (used above)" : "");
      var row = el("tr", { "data-factor": factor }, [el("td", { text: label })]);
      arms.forEach(function (a) {
        row.appendChild(el("td", { className: "num", text: shareText(m.sensitivity[factor][a.arm]) }));
      });
      body.appendChild(row);
    });
    table.appendChild(body);
  }

  function drawPlots() {
    var jobs = [["pareto", "plot-pareto"], ["size-space", "plot-size-space"], ["compute", "plot-compute"]];
    return Promise.all(jobs.map(function (job) {
      return SN.api(base + "/plots/" + job[0]).then(function (fig) {
        return SN.plot(job[1], fig.figure || fig);
      }, function (err) { SN.plotMessage(job[1], "Plot unavailable: " + err.message); });
    }));
  }

  function refresh() {
    return SN.api(base).then(function (c) {
      showError("");
      document.getElementById("comparison-name").textContent = c.name || c.id;
      document.title = (c.name || c.id) + " · comparison · ShrinkNets";
      var arms = joined(c);
      var box = SN.clear(document.getElementById("summary"));
      summary(c, arms).forEach(function (p) { box.appendChild(p); });
      drawArms(c, arms);
      drawParams(arms);
      drawSensitivity(c, arms);
      document.getElementById("reference").textContent = (c.metrics || {}).reference || "";
      var active = c.status === "queued" || c.status === "running";
      document.getElementById("live-note").hidden = !active;
      document.getElementById("cancel-button").hidden = !active;
      SN.clear(document.getElementById("comparison-status")).appendChild(SN.statusBadge(c.status));
      var sig = arms.map(function (a) {
        var p = a.study.progress || {};
        return [p.complete, p.pruned, p.failed, a.study.status].join("/");
      }).join("|");
      var plots = sig !== plotSignature ? drawPlots() : Promise.resolve();
      plotSignature = sig;
      return plots.then(function () { return active; });
    }, function (err) {
      if (err.status === 404) {
        showError("Comparison " + comparisonId + " does not exist. " + err.message);
        ["plot-pareto", "plot-size-space", "plot-compute"].forEach(function (id) {
          SN.plotMessage(id, "No such comparison.");
        });
        SN.clear(document.getElementById("summary"));
        return false;
      }
      showError("Could not load the comparison: " + err.message + " (retrying)");
      return true;
    });
  }

  SN.livePage(refresh, POLL_MS, base + "/cancel",
    "Cancel every arm's study? Running trials stop at their next epoch.");
})();
