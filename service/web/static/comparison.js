// Comparison page: λ search (side a) against width search (side b) on one spec.
// Pareto fronts overlaid, hypervolume / best loss against compute, size space with both
// searches, and a plain-language summary. Polls while either study runs.
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

  function ratioText(r) {
    if (!isFinite(r) || r <= 0) { return null; }
    return r >= 1 ? r.toFixed(1) + "× less" : (1 / r).toFixed(1) + "× more";
  }

  // Compute at which a side first reached its own final hypervolume.
  function ownReach(side) {
    var curve = side.curve || [];
    for (var i = 0; i < curve.length; i++) {
      if (curve[i].hypervolume >= side.hypervolume * (1 - 1e-9)) { return curve[i].cumulative_cost_macs; }
    }
    return side.total_cost_macs;
  }

  function sentence(parts) {
    var p = el("p");
    parts.forEach(function (part) {
      p.appendChild(typeof part === "string" ? document.createTextNode(part)
        : el("strong", { text: part.strong }));
    });
    return p;
  }

  // The plain-language summary, built only from the metrics the API computed.
  function summary(c) {
    var m = c.metrics || {};
    var a = m.a || {}, b = m.b || {};
    var out = [];
    var running = c.status === "queued" || c.status === "running";
    if (!a.n_complete || !b.n_complete) {
      out.push(sentence(["Waiting for both searches to finish their first trials ("
        + (a.n_complete || 0) + " λ, " + (b.n_complete || 0) + " width so far)."]));
      return out;
    }
    var prefix = running ? "So far (still running): " : "";
    var reachA = m.compute_a_to_reach_b;
    if (reachA && reachA.cost_macs > 0) {
      var r = ownReach(b) / reachA.cost_macs;
      var text = ratioText(r);
      out.push(sentence([prefix + "λ search reached width search's best front with ",
        { strong: text + " compute" }, " (" + SN.fmtCompute(reachA.cost_macs) + " MACs in "
          + trialsText(reachA.trials) + ", against " + SN.fmtCompute(ownReach(b)) + " MACs)."]));
    } else {
      var hv = b.hypervolume > 0 ? (100 * a.hypervolume / b.hypervolume).toFixed(0) + "%" : "–";
      out.push(sentence([prefix + "λ search has ", { strong: "not reached" },
        " width search's best front; its hypervolume is " + hv + " of width search's."]));
    }
    var reachB = m.compute_b_to_reach_a;
    if (reachB && reachB.cost_macs > 0) {
      out.push(sentence(["Width search reached λ search's best front with ",
        { strong: ratioText(ownReach(a) / reachB.cost_macs) + " compute" },
        " (" + SN.fmtCompute(reachB.cost_macs) + " MACs in " + trialsText(reachB.trials)
          + ", against " + SN.fmtCompute(ownReach(a)) + " MACs)."]));
    } else if (a.hypervolume > 0) {
      out.push(sentence(["Width search has not reached λ search's best front."]));
    }
    if (a.best_val_loss !== null && b.best_val_loss !== null) {
      out.push(sentence(["Best validation loss: λ search " + SN.fmtNum(a.best_val_loss)
        + ", width search " + SN.fmtNum(b.best_val_loss) + ". Total training compute: λ "
        + SN.fmtCompute(a.total_cost_macs) + " MACs, width " + SN.fmtCompute(b.total_cost_macs) + " MACs."]));
    }
    return out;
  }

  function facts(id, study, side) {
    var dl = SN.clear(document.getElementById(id));
    var s = side || {};
    function add(k, v) {
      dl.appendChild(el("dt", { text: k }));
      var dd = el("dd");
      if (v !== null && typeof v === "object") { dd.appendChild(v); } else { dd.textContent = v; }
      dl.appendChild(dd);
    }
    add("Study", el("a", { href: "studies/" + encodeURIComponent(study.id), text: study.name + " (" + SN.kindLabel(study.kind) + ")" }));
    add("Status", SN.statusBadge(study.status));
    add("Progress", SN.progressBar(study.progress));
    add("Best val loss", SN.fmtNum(s.best_val_loss));
    add("Hypervolume", SN.fmtNum(s.hypervolume));
    var n = (s.front || []).length;
    add("Pareto front", n + (n === 1 ? " point" : " points"));
    add("Training compute", SN.fmtCompute(s.total_cost_macs) + " MACs, "
      + SN.fmtNum(s.total_wall_time_s, 3) + " s");
  }

  function drawPlots(c) {
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
      var box = SN.clear(document.getElementById("summary"));
      summary(c).forEach(function (p) { box.appendChild(p); });
      var m = c.metrics || {};
      facts("facts-lambda", c.lambda_study, m.a);
      facts("facts-width", c.width_study, m.b);
      var active = c.status === "queued" || c.status === "running";
      document.getElementById("live-note").hidden = !active;
      document.getElementById("cancel-button").hidden = !active;
      SN.clear(document.getElementById("comparison-status")).appendChild(SN.statusBadge(c.status));
      var sig = [c.lambda_study, c.width_study].map(function (s) {
        var p = s.progress || {};
        return [p.complete, p.pruned, p.failed, s.status].join("/");
      }).join("|");
      var plots = sig !== plotSignature ? drawPlots(c) : Promise.resolve();
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
    "Cancel both studies? Running trials stop at their next epoch.");
})();
