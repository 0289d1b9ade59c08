package pyjinn

import "pyjinn/abi"

// AIChat asks the model (permissions { ai }, docs/ai.md): request is an OpenAI-style chat
// request as JSON ({"messages": [...], ...}, without the model); the answer is JSON:
// {"text", "finish_reason", "model", "usage", "cached"}.
func AIChat(request []byte) ([]byte, error) {
	return takeResult(abi.AIChat(pointer(request), size(request)))
}

// AIEmbed embeds a JSON string or array of strings with the local model; the answer is JSON:
// {"model", "dimensions", "embeddings": [[...], ...]}.
func AIEmbed(texts []byte) ([]byte, error) {
	return takeResult(abi.AIEmbed(pointer(texts), size(texts)))
}
