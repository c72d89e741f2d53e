// The search page only. Sphinx builds each result's snippet from the page's text, where a formula is
// still its TeX source ("\(K_{\text{eff}} = K + (K-1)(D-1)\)") and the page header's buttons
// (".ipynb .md .pdf", "目录") come first. Snippets here show formulas as plain text and skip the header.
(function () {
  "use strict";
  var SYMBOLS = {
    cdot: "·", times: "×", div: "÷", pm: "±", sqrt: "√", lfloor: "⌊", rfloor: "⌋", lceil: "⌈", rceil: "⌉",
    sum: "Σ", prod: "Π", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "~",
    infty: "∞", partial: "∂", nabla: "∇", to: "→", rightarrow: "→", leftarrow: "←", in: "∈", mid: "|",
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η", theta: "θ",
    lambda: "λ", mu: "μ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", psi: "ψ", omega: "ω",
    Delta: "Δ", Sigma: "Σ", Omega: "Ω", ldots: "…", cdots: "⋯", quad: " ", qquad: "  "
  };

  function plainTex(tex) {
    var s = tex.replace(/^\s*(\\\(|\\\[|\$\$?)/, "").replace(/(\\\)|\\\]|\$\$?)\s*$/, "");
    for (var i = 0; i < 3; i++) {  // nested \frac{\frac{a}{b}}{c}
      s = s.replace(/\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)");
    }
    s = s.replace(/\\(?:text|mathrm|mathbf|mathit|operatorname|boldsymbol|mathcal)\{([^{}]*)\}/g, "$1");
    s = s.replace(/\\(left|right|big|Big|bigl|bigr)\b/g, "");
    s = s.replace(/\\([A-Za-z]+)/g, function (m, name) {
      return Object.prototype.hasOwnProperty.call(SYMBOLS, name) ? SYMBOLS[name] : name;
    });
    return s.replace(/\\[,;:! ]/g, " ").replace(/[{}]/g, "").replace(/\s+/g, " ").trim();
  }

  function htmlToText(htmlString, anchor) {
    var doc = new DOMParser().parseFromString(htmlString, "text/html");
    [".headerlink", "script", "style", ".bd-header-article", ".header-article-items"].forEach(function (q) {
      doc.querySelectorAll(q).forEach(function (el) { el.remove(); });
    });
    doc.querySelectorAll(".math").forEach(function (el) { el.textContent = " " + plainTex(el.textContent) + " "; });
    var block = (anchor && doc.querySelector('[role="main"] ' + anchor)) || doc.querySelector('[role="main"]');
    return block ? block.textContent : "";
  }

  if (typeof Search !== "undefined") {
    Search.htmlToText = htmlToText;
  }
  window.cvbookPlainTex = plainTex;  // for the browser test
})();
