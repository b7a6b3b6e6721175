// netc for VS Code: starts `netc lsp` (the language server of the netc compiler) for `.net` files and the
// YAML files named by `netc.yamlGlobs`. Everything else (errors, hints, hover, completion, navigation,
// formatting) comes from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("netc");
  const [command, ...args] = config.get("command", ["netc", "lsp"]);
  const yamlGlobs = config.get("yamlGlobs", []);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "netc" },
      ...yamlGlobs.map((pattern) => ({ scheme: "file", language: "yaml", pattern })),
    ],
    initializationOptions: { plugins: config.get("plugins", []) },
    synchronize: { configurationSection: "netc" },
  };
  client = new LanguageClient("netc", "netc", serverOptions, clientOptions);
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
