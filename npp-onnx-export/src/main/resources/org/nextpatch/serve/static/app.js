// The playground: reads /v1/model, builds the class list, posts /v1/generate and shows the images.
// Plain JavaScript, no libraries, nothing fetched from anywhere but this server.
(function () {
  'use strict';
  var model = null;
  var $ = function (id) { return document.getElementById(id); };

  function className(i) {
    return model.class_names ? model.class_names[i] : 'class ' + i;
  }

  function setStatus(text, isError) {
    $('status').textContent = text;
    $('status').className = isError ? 'error' : '';
  }

  function loadModel() {
    fetch('v1/model').then(function (r) { return r.json(); }).then(function (m) {
      model = m;
      var c = m.gpt_config;
      $('model-line').textContent = 'GPT ' + c.dim + ' wide, ' + c.n_layer + ' layers, ' + m.num_classes + ' classes, ' +
        m.token_grid + 'x' + m.token_grid + ' tokens' + (m.has_decoder ? ', ' + m.image_size + ' px images' : ' (no decoder: tokens only)');
      var box = $('classes');
      box.textContent = '';
      for (var i = 0; i < m.num_classes; i++) {
        var l = document.createElement('label');
        var cb = document.createElement('input');
        cb.type = 'checkbox';
        cb.value = String(i);
        cb.id = 'class-' + i;
        cb.name = 'class';
        l.appendChild(cb);
        l.appendChild(document.createTextNode(' ' + className(i)));
        box.appendChild(l);
      }
      document.body.setAttribute('data-ready', 'true');
    }).catch(function (e) { setStatus('cannot read the model: ' + e, true); });
  }

  function chosenClasses() {
    var out = [];
    var boxes = document.querySelectorAll('#classes input:checked');
    for (var i = 0; i < boxes.length; i++) { out.push(parseInt(boxes[i].value, 10)); }
    return out;
  }

  function generate(ev) {
    ev.preventDefault();
    var chosen = chosenClasses();
    if (chosen.length === 0) { setStatus('Pick at least one class.', true); return; }
    var count = Math.max(1, parseInt($('count').value, 10) || 1);
    var classes = [];
    chosen.forEach(function (c) { for (var k = 0; k < count; k++) { classes.push(c); } });
    var body = {
      classes: classes,
      cfg_scale: parseFloat($('cfg').value),
      temperature: parseFloat($('temperature').value),
      top_k: parseInt($('topk').value, 10),
      top_p: parseFloat($('topp').value),
      seed: parseInt($('seed').value, 10),
      format: model.has_decoder ? 'png' : 'tokens'
    };
    $('generate').disabled = true;
    setStatus('Generating ' + classes.length + ' image(s)\u2026', false);
    var t0 = performance.now();
    fetch('v1/generate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, status: r.status, body: j }; }); })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + ': ' + r.body.error); }
        show(r.body, chosen, count);
        setStatus(classes.length + ' image(s) in ' + r.body.seconds.toFixed(2) + ' s on the server (' +
          ((performance.now() - t0) / 1000).toFixed(2) + ' s here), seed ' + r.body.seed, false);
      })
      .catch(function (e) { setStatus(String(e.message || e), true); })
      .then(function () { $('generate').disabled = false; });
  }

  function show(res, chosen, count) {
    var out = $('results');
    out.textContent = '';
    chosen.forEach(function (c, ci) {
      var row = document.createElement('div');
      row.className = 'row';
      var h = document.createElement('h2');
      h.textContent = className(c);
      row.appendChild(h);
      var grid = document.createElement('div');
      grid.className = 'grid';
      for (var k = 0; k < count; k++) {
        var i = ci * count + k;
        if (res.images) {
          var img = document.createElement('img');
          img.className = 'sample';
          img.alt = className(c) + ' #' + (k + 1);
          img.src = 'data:image/png;base64,' + res.images[i];
          grid.appendChild(img);
        } else {
          var p = document.createElement('p');
          p.className = 'tokens';
          p.textContent = res.tokens[i].join(' ');
          grid.appendChild(p);
        }
      }
      row.appendChild(grid);
      out.appendChild(row);
    });
    out.setAttribute('data-done', String(Date.now()));
  }

  // Re-roll: a new random seed, and the same request again with it when classes are picked.
  $('reroll').addEventListener('click', function () {
    $('seed').value = String(Math.floor(Math.random() * 2147483647));
    if (model && chosenClasses().length > 0 && !$('generate').disabled) {
      $('controls').requestSubmit($('generate'));
    }
  });
  $('controls').addEventListener('submit', generate);
  loadModel();
})();
