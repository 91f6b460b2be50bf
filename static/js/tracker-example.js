// The example page's own code, in a file so that the page works under a strict Content-Security-Policy.
var params = new URLSearchParams(window.location.search);
analytics.init(params.get("key") || "", {
  host: window.location.origin,
  flushInterval: Number(params.get("flush") || 2000),
  batchSize: Number(params.get("batch") || 20)
});
document.getElementById("buy").addEventListener("click", function () {
  analytics.track("purchase", {revenue: 49.5, plan: "pro"});
});
document.getElementById("login").addEventListener("click", function () {
  analytics.identify("user-42", {email: "user42@example.com", plan: "pro"});
});
