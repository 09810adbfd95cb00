// What a caught value says, for messages to users and logs: an Error's message, or the value
// itself (a rejected promise or a worker may hand over anything). Every layer above reports
// errors this way; it lives here, the lowest layer that reports to users.

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
