// The part of the `vscode` module that sharing.ts uses, made fresh for each bundle: the
// messages it shows are recorded for the test to read; settings are unset, so the base URL
// comes from SYNTX_SESSIONS_BASE_URL.
module.exports = function vscode() {
  const messages = { errors: [], infos: [] };
  return {
    messages,
    window: {
      showErrorMessage: (m) => void messages.errors.push(m),
      showInformationMessage: (m) => void messages.infos.push(m),
    },
    workspace: { getConfiguration: () => ({ get: () => undefined }) },
    env: { clipboard: { writeText: async () => {} } },
    Uri: { file: (fsPath) => ({ fsPath }) },
  };
};
