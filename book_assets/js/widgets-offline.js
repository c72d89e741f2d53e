// Loaded after require.js and before the ipywidgets HTML manager (embed-amd.js), on every page.
(function () {
  // 1. The manager's bundle finds its own files (Font Awesome for widget icons) next to the URL
  //    require.js gives its modules. By default that is the page's folder; point it at the copy
  //    the book serves itself (vendor/html-manager/, next to this script's js/ folder).
  var here = document.currentScript && document.currentScript.src;
  if (here && window.require && window.require.config) {
    var dist = new URL("../vendor/html-manager", here).href;
    window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": dist } });
  }

  // 2. The manager typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue). The book
  //    loads MathJax 3, which has no Hub: without this bridge every label raises
  //    "Cannot read properties of undefined (reading 'Queue')".
  function bridge() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.typesetPromise) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        mj.typesetPromise(element ? [element] : undefined).catch(function () {});
      }
    };
  }
  bridge();
  document.addEventListener("DOMContentLoaded", bridge);
  window.addEventListener("load", bridge);
})();
