import Hummingbird
import NIOCore

/// The console's one script (served from `/console/console.js`, the only script the pages' CSP allows): it keeps
/// the list page's counters live by reading `/console/counters` every ten seconds. Without it the counters are
/// those of the moment the page was made.
enum ConsoleScript {
    static let source = """
        "use strict";
        (function () {
          var fields = ["pending", "decidedToday", "deliveriesFailing", "consumerLag"];
          function refresh() {
            fetch("/console/counters", { credentials: "same-origin", headers: { Accept: "application/json" } })
              .then(function (response) { return response.ok ? response.json() : null; })
              .then(function (counts) {
                if (!counts) return;
                fields.forEach(function (name) {
                  var element = document.getElementById("count-" + name);
                  if (element) element.textContent = counts[name] === null ? "unknown" : String(counts[name]);
                });
                var stamp = document.getElementById("counts-at");
                if (stamp) stamp.textContent = "as of " + counts.at.slice(11, 19) + " UTC";
              })
              .catch(function () {});
          }
          if (document.getElementById("counters")) setInterval(refresh, 10000);
        })();

        """

    static var response: Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache", .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: source)))
    }
}
