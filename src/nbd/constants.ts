/**
 * Constants of the NBD protocol, from NetworkBlockDevice/nbd doc/proto.md
 * (each cites the section that defines it). All are sent big-endian.
 */

/** "NBDMAGIC", the first 8 bytes the server sends (proto.md, "Newstyle negotiation"). */
export const NBDMAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": after NBDMAGIC from the server, and before every option from the client (proto.md, "Newstyle negotiation"). */
export const IHAVEOPT = 0x49484156454f5054n;
/** Magic of every option reply (proto.md, "Fixed newstyle negotiation"). */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
/** `NBD_REQUEST_MAGIC` (proto.md, "Request message"). */
export const NBD_REQUEST_MAGIC = 0x25609513;
/** `NBD_SIMPLE_REPLY_MAGIC` (proto.md, "Simple reply message"). */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
/** `NBD_STRUCTURED_REPLY_MAGIC` (proto.md, "Structured reply chunk message"). */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (proto.md, "Values", "Handshake flags"). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
/** Handshake flag: the server can leave out the 124 zero bytes after NBD_OPT_EXPORT_NAME (proto.md, "Handshake flags"). */
export const NBD_FLAG_NO_ZEROES = 1 << 1;

/** Client flag: the client speaks fixed newstyle (proto.md, "Values", "Client flags"). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
/** Client flag: no 124 zero bytes after NBD_OPT_EXPORT_NAME (proto.md, "Client flags"). */
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flag that MUST always be set (proto.md, "Values", "Transmission flags"). */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
/** Transmission flag: writes are refused (proto.md, "Transmission flags"). */
export const NBD_FLAG_READ_ONLY = 1 << 1;
/** Transmission flag: NBD_CMD_FLUSH is understood (proto.md, "Transmission flags"). */
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
/** Transmission flag: NBD_CMD_FLAG_FUA is understood (proto.md, "Transmission flags"). */
export const NBD_FLAG_SEND_FUA = 1 << 3;
/** Transmission flag: NBD_CMD_TRIM is understood (proto.md, "Transmission flags"). */
export const NBD_FLAG_SEND_TRIM = 1 << 5;
/** Transmission flag: NBD_CMD_WRITE_ZEROES and NBD_CMD_FLAG_NO_HOLE are understood (proto.md, "Transmission flags"). */
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
/** Transmission flag: NBD_CMD_FLAG_DF is understood; only with structured replies (proto.md, "Transmission flags"). */
export const NBD_FLAG_SEND_DF = 1 << 7;
/** Transmission flag: FLUSH and FUA hold across all connections to the export (proto.md, "Transmission flags"). */
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;

/** Option types (proto.md, "Values", "Option types"). */
export const NBD_OPT_EXPORT_NAME = 1;
/** Option: end the negotiation (proto.md, "Option types"). */
export const NBD_OPT_ABORT = 2;
/** Option: list the exports (proto.md, "Option types"). */
export const NBD_OPT_LIST = 3;
/** Option: describe an export (proto.md, "Option types", NBD_OPT_INFO and NBD_OPT_GO). */
export const NBD_OPT_INFO = 6;
/** Option: describe an export and enter transmission (proto.md, "Option types"). */
export const NBD_OPT_GO = 7;
/** Option: use structured replies (proto.md, "Option types"). */
export const NBD_OPT_STRUCTURED_REPLY = 8;
/** Option: list metadata contexts (proto.md, "Option types"). */
export const NBD_OPT_LIST_META_CONTEXT = 9;
/** Option: select metadata contexts (proto.md, "Option types"). */
export const NBD_OPT_SET_META_CONTEXT = 10;

/** Option reply: success, or the end of a list (proto.md, "Values", "Option reply types"). */
export const NBD_REP_ACK = 1;
/** Option reply: one export of NBD_OPT_LIST (proto.md, "Option reply types"). */
export const NBD_REP_SERVER = 2;
/** Option reply: one piece of information of NBD_OPT_INFO/GO (proto.md, "Option reply types"). */
export const NBD_REP_INFO = 3;
/** Option reply: one metadata context (proto.md, "Option reply types"). */
export const NBD_REP_META_CONTEXT = 4;
/** Option reply error: unknown option (proto.md, "Option reply types", 2^31 + 1). */
export const NBD_REP_ERR_UNSUP = 0x80000001;
/** Option reply error: syntactically or semantically invalid (proto.md, "Option reply types", 2^31 + 3). */
export const NBD_REP_ERR_INVALID = 0x80000003;
/** Option reply error: no such export (proto.md, "Option reply types", 2^31 + 6). */
export const NBD_REP_ERR_UNKNOWN = 0x80000006;
/** Option reply error: the server is shutting down (proto.md, "Option reply types", 2^31 + 7). */
export const NBD_REP_ERR_SHUTDOWN = 0x80000007;

/** NBD_REP_INFO type: size and transmission flags (proto.md, "Option reply types", NBD_INFO_EXPORT). */
export const NBD_INFO_EXPORT = 0;
/** NBD_REP_INFO type: block size constraints (proto.md, "Option reply types", NBD_INFO_BLOCK_SIZE). */
export const NBD_INFO_BLOCK_SIZE = 3;

/** Command flag: persist before replying (proto.md, "Values", "Command flags"). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
/** Command flag of WRITE_ZEROES: do not punch a hole (proto.md, "Command flags"). */
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
/** Command flag of READ: one content chunk only (proto.md, "Command flags"). */
export const NBD_CMD_FLAG_DF = 1 << 2;
/** Command flag of BLOCK_STATUS: one extent only (proto.md, "Command flags"). */
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;

/** Structured reply flag: the last chunk of a reply (proto.md, "Values", "Structured reply flags"). */
export const NBD_REPLY_FLAG_DONE = 1 << 0;

/** Structured reply type: nothing more (proto.md, "Structured reply types"). */
export const NBD_REPLY_TYPE_NONE = 0;
/** Structured reply type: data at an offset (proto.md, "Structured reply types"). */
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
/** Structured reply type: block status descriptors of one context (proto.md, "Structured reply types"). */
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
/** Structured reply type: an error, with a message (proto.md, "Structured reply types", 2^15 + 1). */
export const NBD_REPLY_TYPE_ERROR = 0x8001;

/** Request types (proto.md, "Values", "Request types"). */
export const NBD_CMD_READ = 0;
/** Request: write the payload (proto.md, "Request types"). */
export const NBD_CMD_WRITE = 1;
/** Request: disconnect, no reply (proto.md, "Request types"). */
export const NBD_CMD_DISC = 2;
/** Request: make completed writes durable (proto.md, "Request types"). */
export const NBD_CMD_FLUSH = 3;
/** Request: the range is no longer needed (proto.md, "Request types"). */
export const NBD_CMD_TRIM = 4;
/** Request: make the range read as zeros (proto.md, "Request types"). */
export const NBD_CMD_WRITE_ZEROES = 6;
/** Request: allocation status of a range (proto.md, "Request types"). */
export const NBD_CMD_BLOCK_STATUS = 7;

/** Error values (proto.md, "Values", "Error values"): operation not permitted. */
export const NBD_EPERM = 1;
/** Error value: input/output error (proto.md, "Error values"). */
export const NBD_EIO = 5;
/** Error value: invalid argument (proto.md, "Error values"). */
export const NBD_EINVAL = 22;
/** Error value: no space left (proto.md, "Error values"). */
export const NBD_ENOSPC = 28;
/** Error value: value too large (proto.md, "Error values"). */
export const NBD_EOVERFLOW = 75;

/** base:allocation flag: not allocated (proto.md, "`base:allocation` metadata context"). */
export const NBD_STATE_HOLE = 1 << 0;
/** base:allocation flag: reads as zeros (proto.md, "`base:allocation` metadata context"). */
export const NBD_STATE_ZERO = 1 << 1;
/** The one context of the base: namespace (proto.md, "The `base:` metadata namespace"). */
export const BASE_ALLOCATION = 'base:allocation';

/** The IANA port for newstyle negotiation (proto.md, "Newstyle negotiation"). */
export const NBD_DEFAULT_PORT = 10809;
/** Longest string (export name, context, message) allowed (proto.md, "Conventions"). */
export const MAX_STRING = 4096;
/** Preferred block size advertised: 4 KiB, the default (proto.md, "Size constraints"). */
export const PREFERRED_BLOCK = 4096;
