#!/usr/bin/env bash
# Refreshes the GraphiQL explorer's browser files in graphql_api/static/graphiql/ from the npm registry.
#
# Swagger UI comes from a PyPI package (flask-swagger-ui); GraphiQL has none, so its prebuilt browser
# files are vendored: exactly the files the explorer page loads, byte for byte as npm ships them, with
# their licences. GraphiQL 4 is the last major with a self-contained browser (UMD) build; 5.x ships only
# ES modules that need a bundler or a module CDN. React 18 is the last React with UMD builds.
# To upgrade: change a version below, run `make vendor-assets`, load /graphql, commit.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=4.1.2
PLUGIN_EXPLORER=4.0.6
GRAPHIQL_EXPLORER=0.9.0   # bundled inside @graphiql/plugin-explorer's UMD file; vendored for its licence
REACT=18.3.1

DEST=graphql_api/static/graphiql
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fetch() {  # fetch <package@version> <dir>: npm checks the tarball against the registry's integrity hash
    mkdir -p "$WORK/$2"
    (cd "$WORK" && npm pack --silent "$1" >"$2.name")
    tar -xzf "$WORK/$(cat "$WORK/$2.name")" -C "$WORK/$2"
}
fetch "graphiql@$GRAPHIQL" graphiql
fetch "@graphiql/plugin-explorer@$PLUGIN_EXPLORER" plugin-explorer
fetch "graphiql-explorer@$GRAPHIQL_EXPLORER" graphiql-explorer
fetch "react@$REACT" react
fetch "react-dom@$REACT" react-dom

rm -rf "$DEST"
mkdir -p "$DEST/licenses"
cp "$WORK/react/package/umd/react.production.min.js" "$DEST/react.production.min.js"
cp "$WORK/react-dom/package/umd/react-dom.production.min.js" "$DEST/react-dom.production.min.js"
cp "$WORK/graphiql/package/graphiql.min.js" "$DEST/graphiql.min.js"
cp "$WORK/graphiql/package/graphiql.min.css" "$DEST/graphiql.min.css"
cp "$WORK/plugin-explorer/package/dist/index.umd.js" "$DEST/plugin-explorer.umd.js"
cp "$WORK/plugin-explorer/package/dist/style.css" "$DEST/plugin-explorer.css"
cp "$WORK/react/package/LICENSE" "$DEST/licenses/react.LICENSE"
cp "$WORK/react-dom/package/LICENSE" "$DEST/licenses/react-dom.LICENSE"
cp "$WORK/graphiql/package/LICENSE" "$DEST/licenses/graphiql.LICENSE"
cp "$WORK/graphiql-explorer/package/LICENSE" "$DEST/licenses/graphiql-explorer.LICENSE"

{
    echo "# Vendored by scripts/vendor-assets.sh (make vendor-assets); do not edit by hand."
    echo
    echo "| file | npm package | licence |"
    echo "| --- | --- | --- |"
    echo "| react.production.min.js | react@$REACT (umd/react.production.min.js) | MIT, licenses/react.LICENSE |"
    echo "| react-dom.production.min.js | react-dom@$REACT (umd/react-dom.production.min.js) | MIT, licenses/react-dom.LICENSE |"
    echo "| graphiql.min.js, graphiql.min.css | graphiql@$GRAPHIQL (bundles graphql and @graphiql/react) | MIT, licenses/graphiql.LICENSE |"
    echo "| plugin-explorer.umd.js, plugin-explorer.css | @graphiql/plugin-explorer@$PLUGIN_EXPLORER (dist/index.umd.js, dist/style.css; bundles graphiql-explorer@$GRAPHIQL_EXPLORER) | MIT (package.json; the package ships no licence file: it is part of the graphiql repository, licenses/graphiql.LICENSE), graphiql-explorer: MIT, licenses/graphiql-explorer.LICENSE |"
    echo
    echo "SHA-256:"
    echo
    (cd "$DEST" && sha256sum ./*.js ./*.css | sed 's|  \./|  |; s|^|    |')
} >"$DEST/VENDORED.md"
echo "vendored into $DEST:"
ls -l "$DEST"
