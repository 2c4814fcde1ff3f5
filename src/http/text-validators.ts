import { Matches } from 'class-validator';

/**
 * Control characters other than tab and newline: a reason or comment carrying them
 * (an ANSI escape, a backspace, a bell) could rewrite what an approver's terminal or
 * a log viewer shows.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
/** The same, and line breaks too: for one-line values. */
// eslint-disable-next-line no-control-regex -- as above
const CONTROL_OR_NEWLINE = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;

/** Free text people read (a reason, a comment): lines and tabs, no other control characters. */
export function PlainText(): PropertyDecorator {
  return Matches(new RegExp(`^(?:(?!${CONTROL.source}).)*$`, 'su'), {
    message: ({ property }) => `${property} must not contain control characters`,
  });
}

/** One line of text (an incident reference): no control characters, no line breaks. */
export function SingleLineText(): PropertyDecorator {
  return Matches(new RegExp(`^(?:(?!${CONTROL_OR_NEWLINE.source}).)*$`, 'su'), {
    message: ({ property }) => `${property} must be one line without control characters`,
  });
}
