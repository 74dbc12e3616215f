"""The model: the chat-completions client and its retries, the Batch API, prices, rate limits, prompts, secret
masking, and the built-in offline model."""
