/** WebSocket close codes of the wire protocol (docs/protocol.md, "Close codes"). */
export const CloseCode = {
  NORMAL: 1000,
  DRAINING: 1001,
  TOO_LARGE: 1009,
  UNAUTHORIZED: 4001,
  FORBIDDEN: 4003,
  RATE_ABUSE: 4008,
  SLOW_CONSUMER: 4029,
  BAD_FRAMES: 4400,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

export const CLOSE_REASONS: Readonly<Record<number, string>> = {
  1000: 'normal',
  1001: 'draining',
  1009: 'frame too large',
  4001: 'unauthorized',
  4003: 'forbidden',
  4008: 'rate limit abuse',
  4029: 'slow consumer',
  4400: 'too many bad frames',
};
