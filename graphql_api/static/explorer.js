// Starts GraphiQL on the page's own /graphql. The web console keeps the bearer token and the open realty
// in this tab's sessionStorage; when the token is there the fetcher sends it, so the schema loads at once
// (GraphiQL asks for the schema before its Headers tab is read), and the Headers tab shows it.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("explorer-config").textContent);
  var token = null;
  var realty = null;
  try {
    token = window.sessionStorage.getItem("realty-console.token");
    realty = window.sessionStorage.getItem("realty-console.realty");
  } catch (e) { /* storage disabled */ }
  var headers = JSON.stringify({ Authorization: "Bearer " + (token || "<paste the dev token make run printed>") },
                               null, 2);
  var fetcher = GraphiQL.createFetcher({
    url: new URL(config.url, window.location.href).href,
    headers: token ? { Authorization: "Bearer " + token } : {},
  });
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
