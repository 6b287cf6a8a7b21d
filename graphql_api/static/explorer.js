// Starts GraphiQL on the page's own /graphql. The web console keeps the bearer token and the open realty
// in this tab's sessionStorage; when the token is there the fetcher sends it, so the schema loads at once
// (GraphiQL asks for the schema before its Headers tab is read), and the Headers tab shows it.
(function () {
  "use strict";
  var PLACEHOLDER = "<paste the dev token make run printed>";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var token = null;
  var realty = null;
  try {
    token = window.sessionStorage.getItem("realty-console.token");
    realty = window.sessionStorage.getItem("realty-console.realty");
  } catch (e) { /* storage disabled */ }
  var headers = JSON.stringify({ Authorization: "Bearer " + (token || PLACEHOLDER) }, null, 2);

  // Until a token is pasted the Headers tab holds the placeholder, which is no token: it is not sent, so
  // the gateway says a token is missing (not that one is malformed), and the hint says how to get one.
  function withoutPlaceholder(sent) {
    var kept = {};
    Object.keys(sent || {}).forEach(function (name) {
      if (String(sent[name]).indexOf(PLACEHOLDER) < 0) kept[name] = sent[name];
    });
    return kept;
  }

  var hint = document.getElementById("token-hint");
  function showHint(result) {
    var errors = (result && result.errors) || [];
    var refused = errors.filter(function (e) { return e.extensions && e.extensions.code === "UNAUTHENTICATED"; });
    if (refused.length) {
      document.getElementById("token-hint-answer").textContent = refused[0].message;
      hint.hidden = false;
    } else if (result && (result.data !== undefined || errors.length)) {
      hint.hidden = true;
    }
  }

  var send = GraphiQL.createFetcher({
    url: new URL(config.url, window.location.href).href,
    headers: token ? { Authorization: "Bearer " + token } : {},
    // Plain JSON answers (the gateway has no @defer or @stream): every result is one promised object,
    // which the hint can read too.
    enableIncrementalDelivery: false,
  });
  function fetcher(params, options) {
    var result = send(params, Object.assign({}, options, { headers: withoutPlaceholder(options && options.headers) }));
    if (result && typeof result.then === "function") result.then(showHint, function () {});
    return result;
  }

  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    plugins: [explorer],
    defaultQuery: config.defaultQuery,
    headers: headers,  // GraphiQL 4: the initial Headers tab
    variables: JSON.stringify({ id: realty || "a realty UUID or a Property id" }, null, 2),
    defaultEditorToolsVisibility: true,
  }));
})();
