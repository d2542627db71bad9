export { createChat, type ChatEngine, type ChatOptions } from './completions.ts';
export { readChatTemplate, renderChatTemplate, chatPrompt, chatPromptIds, continuedPromptIds, type ChatPrompt } from './template.ts';
export { StopMatcher } from './stop.ts';
export type * from './types.ts';
