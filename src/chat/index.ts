export { createChat, type ChatEngine, type ChatOptions } from './completions.ts';
export { readChatTemplate, renderChatTemplate, chatPromptIds } from './template.ts';
export { StopMatcher } from './stop.ts';
export type * from './types.ts';
