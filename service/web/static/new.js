// New study / comparison form: builds the spec JSON from the inputs (each input's name is
// the dotted spec path), posts it to the API and shows 4xx errors next to their field.
// A comparison also sends the checked arms ("arms": [...]). A second form uploads a
// dataset (POST api/v1/datasets) and selects it.
(function () {
  "use strict";
  var SN = window.SN;
  var form = document.getElementById("spec-form");
  var target = document.getElementById("f-target");
  var formError = document.getElementById("form-error");
  var preview = document.getElementById("spec-preview");
  var datasetSelect = form.querySelector('select[name="dataset.name"]');
  var datasetSpecs = {};  // dataset name -> the "dataset" part of a spec (from the API)

  function inputs() {
    return Array.prototype.slice.call(form.querySelectorAll("input[name], select[name]"))
      .filter(function (input) { return input.name !== "target" && input.name !== "arms"; });
  }

  function checkedArms() {
    return Array.prototype.slice.call(form.querySelectorAll('input[name="arms"]:checked'))
      .map(function (input) { return input.value; });
  }

  // The search kind of a one-study run ("" for a comparison: its arms are the searches).
  function searchKind() {
    var kind = form.querySelector('[name="search.kind"]');
    return kind && target.value === "study" ? kind.value : "";
  }

  // Fields marked data-only-for show only for one target ("study", "comparison") or
  // for one search kind of a study ("target_size").
  function updateVisibility() {
    var isStudy = target.value === "study";
    form.querySelectorAll(".field[data-only-for]").forEach(function (field) {
      var only = field.dataset.onlyFor;
      field.hidden = !(only === "study" ? isStudy : only === "comparison" ? !isStudy
        : searchKind() === only);
    });
  }

  function readValue(input) {
    var type = input.dataset.type;
    if (type === "bool") { return input.checked; }
    var raw = input.value.trim();
    if (raw === "") { return input.dataset.empty === "null" ? null : undefined; }
    if (type === "int" || type === "float") {
      var n = Number(raw);
      return isNaN(n) ? raw : n;  // a non-number goes to the server, which names the field
    }
    if (type === "list") { return raw.split(",").map(function (s) { return s.trim(); }); }
    return raw;
  }

  function buildSpec() {
    var spec = {};
    inputs().forEach(function (input) {
      var field = input.closest(".field");
      if (field && field.hidden) { return; }
      var value = readValue(input);
      if (value === undefined) { return; }
      var parts = input.name.split(".");
      var node = spec;
      for (var i = 0; i < parts.length - 1; i++) {
        node[parts[i]] = node[parts[i]] || {};
        node = node[parts[i]];
      }
      node[parts[parts.length - 1]] = value;
    });
    // an uploaded dataset also needs its path / target columns, as the API listed them
    if (spec.dataset && datasetSpecs[spec.dataset.name]) {
      spec.dataset = Object.assign({}, datasetSpecs[spec.dataset.name], spec.dataset);
    }
    if (target.value === "comparison") { spec.arms = checkedArms(); }
    return spec;
  }

  function clearErrors(formEl, box) {
    formEl.querySelectorAll(".field").forEach(function (field) {
      field.classList.remove("invalid");
      var slot = field.querySelector(".error");
      if (slot) { slot.textContent = ""; }
    });
    box.hidden = true;
    box.textContent = "";
  }

  // The field an API error names: exact dotted path, else the longest suffix that
  // matches (the API may prefix the body's name, e.g. "spec.training.epochs").
  function fieldFor(formEl, name) {
    if (!name) { return null; }
    var parts = String(name).split(".");
    for (var i = 0; i < parts.length; i++) {
      var path = parts.slice(i).join(".");
      var field = formEl.querySelector('.field[data-field="' + CSS.escape(path) + '"]');
      if (field && !field.hidden) { return field; }
    }
    return null;
  }

  // Each problem of an API error next to its field; the rest (and auth errors) on top.
  function showErrors(formEl, box, err) {
    if (err.status === 401 || err.status === 403) {
      box.textContent = "HTTP " + err.status + ": " + err.message
        + (err.status === 401 ? " (enter the API token in the field at the top of the page)" : "");
      box.hidden = false;
      return;
    }
    var body = err.body && err.body.error ? err.body.error : null;
    var items = body ? (body.details && body.details.length ? body.details : [body]) : [];
    var unplaced = [];
    items.forEach(function (item) {
      var field = fieldFor(formEl, item.field);
      var text = item.message + (item.allowed ? " (allowed: " + item.allowed + ")" : "");
      if (field) {
        field.classList.add("invalid");
        var slot = field.querySelector(".error");
        slot.textContent = slot.textContent ? slot.textContent + " " + text : text;
      } else {
        unplaced.push(text);
      }
    });
    if (!items.length) { unplaced.push(err.message || String(err)); }
    if (unplaced.length) {
      box.textContent = (err.status ? "HTTP " + err.status + ": " : "") + unplaced.join("; ");
      box.hidden = false;
    }
    var first = formEl.querySelector(".field.invalid input, .field.invalid select");
    if (first) { first.focus(); }
  }

  function updatePreview() {
    var path = target.value === "comparison" ? "comparisons" : "studies";
    preview.textContent = "POST api/v1/" + path + "\n" + JSON.stringify(buildSpec(), null, 2);
  }

  function addDataset(d) {
    if (!d || !d.name || d.requires_file) { return; }  // a file-less stand-in cannot run
    if (d.spec) { datasetSpecs[d.name] = d.spec; }
    var exists = Array.prototype.some.call(datasetSelect.options, function (o) {
      return o.value === d.name;
    });
    if (!exists) { datasetSelect.appendChild(SN.el("option", { value: d.name, text: d.label || d.name })); }
  }

  function loadDatasets() {
    return SN.api("datasets").then(function (body) {
      ((body && body.items) || []).forEach(addDataset);
      updatePreview();
    }).catch(function () { /* the server-rendered options stay */ });
  }

  form.addEventListener("input", function () { updateVisibility(); updatePreview(); });
  form.addEventListener("change", function () { updateVisibility(); updatePreview(); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(form, formError);
    var isComparison = target.value === "comparison";
    var button = document.getElementById("submit");
    button.disabled = true;
    SN.api(isComparison ? "comparisons" : "studies", { method: "POST", body: buildSpec() })
      .then(function (created) {
        window.location.href = SN.url((isComparison ? "comparisons/" : "studies/")
          + encodeURIComponent(created.id));
      }, function (err) { showErrors(form, formError, err); })
      .then(function () { button.disabled = false; });
  });

  var upload = document.getElementById("upload-form");
  var uploadError = document.getElementById("upload-error");
  upload.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(upload, uploadError);
    var done = document.getElementById("upload-done");
    done.hidden = true;
    var data = new FormData();
    upload.querySelectorAll("input[name], select[name]").forEach(function (input) {
      if (input.type === "file") {
        if (input.files.length) { data.append(input.name, input.files[0]); }
      } else if (input.value.trim()) {
        data.append(input.name, input.value.trim());
      }
    });
    var button = document.getElementById("upload-submit");
    button.disabled = true;
    SN.api("datasets", { method: "POST", form: data }).then(function (dataset) {
      addDataset(dataset);
      datasetSelect.value = dataset.name;
      done.textContent = "Uploaded " + dataset.name + " (" + SN.fmtNum(dataset.n_rows) + " rows, "
        + SN.fmtNum(dataset.n_features) + " features); selected above.";
      done.hidden = false;
      updatePreview();
    }, function (err) { showErrors(upload, uploadError, err); })
      .then(function () { button.disabled = false; });
  });

  updateVisibility();
  updatePreview();
  loadDatasets();
})();
