/** Throws unless `value` is a whole number in [min, max]; the message names the owner and the field. */
export function requireWholeNumber(owner: string, field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${owner}: ${field} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}
