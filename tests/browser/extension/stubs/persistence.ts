// The extension's task storage, in memory and shared with the test through a global (the
// bundle has its own copy of this module): what a share reads and what an import saves.
const store = ((globalThis as any).extensionTaskStore ??= {}) as { messages?: unknown[]; saved?: unknown[] }
export const readTaskMessages = async (_: unknown) => store.messages
export const saveTaskMessages = async (o: { messages: unknown[] }) => {
	store.saved = o.messages
}
export const readApiMessages = async (_: unknown) => []
export const saveApiMessages = async (_: unknown) => {}
export const getTaskDirectoryPath = async (_: unknown) => "/nonexistent"
export const GlobalFileNames = { apiConversationHistory: "api.json", uiMessages: "ui.json", taskMetadata: "meta.json" }
