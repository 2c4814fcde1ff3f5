import { Matches, ValidateBy, ValidateIf, type ValidationOptions } from 'class-validator';

/*
 * Validators whose rule is also published in the OpenAPI document: each exports the
 * pattern it checks, written so that ECMAScript and JSON Schema (no flags) read it
 * alike, and the DTOs put that same pattern in their @ApiProperty.
 */

/**
 * Free text people read (a reason, a comment): lines and tabs, no other control
 * characters. A reason or comment carrying them (an ANSI escape, a backspace, a bell)
 * could rewrite what an approver's terminal or a log viewer shows.
 */
export const PLAIN_TEXT_PATTERN = '^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$';

/** One line of text (an incident reference): no control characters, no line breaks. */
export const SINGLE_LINE_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029]*$';

/** An RFC 3339 date-time (JSON Schema's `date-time` format). */
export const DATE_TIME_PATTERN =
  '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$';

export function PlainText(): PropertyDecorator {
  return Matches(new RegExp(PLAIN_TEXT_PATTERN), {
    message: ({ property }) => `${property} must not contain control characters`,
  });
}

export function SingleLineText(): PropertyDecorator {
  return Matches(new RegExp(SINGLE_LINE_PATTERN), {
    message: ({ property }) => `${property} must be one line without control characters`,
  });
}

/**
 * An RFC 3339 date-time that names a real instant: what `format: date-time` promises,
 * no more (IsISO8601 also takes dates alone, week dates and other ISO 8601 forms).
 */
export function IsDateTime(options?: ValidationOptions): PropertyDecorator {
  const shape = new RegExp(DATE_TIME_PATTERN);
  return ValidateBy(
    {
      name: 'isDateTime',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && shape.test(value) && isInstant(value),
        defaultMessage: () => '$property must be an RFC 3339 date-time',
      },
    },
    options,
  );
}

/**
 * A body field that may be left out, but not sent as null: the OpenAPI document
 * declares it a (non-nullable) value of its type. (IsOptional lets null through too.)
 */
export function OptionalField(): PropertyDecorator {
  return ValidateIf((_object: unknown, value: unknown) => value !== undefined);
}

/** Parses an RFC 3339 date-time (already matched against DATE_TIME_PATTERN); NaN if it is no real instant. */
export function parseDateTime(value: string): number {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  // Date.parse rolls 2024-02-30 over into March; a calendar date must exist as written.
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d) {
    return NaN;
  }
  return Date.parse(value.toUpperCase());
}

function isInstant(value: string): boolean {
  return !Number.isNaN(parseDateTime(value));
}
