// The ipywidgets HTML manager typesets widget labels with the MathJax 2 API
// (MathJax.Hub.Queue). The book loads MathJax 3, which has no Hub: without this bridge every
// widget label raises "Cannot read properties of undefined (reading 'Queue')".
(function () {
  function install() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.typesetPromise) return;
    mj.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        mj.typesetPromise(element ? [element] : undefined).catch(function () {});
      }
    };
  }
  install();
  document.addEventListener("DOMContentLoaded", install);
  window.addEventListener("load", install);
})();
