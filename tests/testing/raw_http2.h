// RawHttp2Connection: a small HTTP/2 client over one plaintext TCP socket, for
// tests that must say what no well-behaved gRPC client would: only the
// preface, HEADERS without a body, a gRPC length prefix that lies, a body
// that never ends, responses that are never read, thousands of streams on one
// socket.
//
// It writes frames exactly as asked (HEADERS carry HPACK literal fields
// without indexing or Huffman coding) and, when reading, keeps just enough
// state to be a correct peer: it ACKs SETTINGS and PINGs, tracks the
// server's flow-control windows (for SendFlowControlled), decodes the
// server's header blocks (HPACK with its dynamic table; gRPC sends the
// fields tests look at, grpc-status and grpc-message, without Huffman coding,
// so a Huffman-coded string reads as "<huffman>") and collects each stream's
// headers, trailers, DATA, RST_STREAM and the connection's GOAWAY. It sends
// WINDOW_UPDATE only when asked or with auto_window_update on, and reads the
// socket only in the calls that say they read (Read*, WaitForClose,
// AwaitSettings, SendFlowControlled): a test that calls none of them never
// reads an answer.
//
// Not thread-safe: one thread per connection. Every wait has a deadline; none
// sleeps.

#ifndef VERDICT_TESTS_TESTING_RAW_HTTP2_H_
#define VERDICT_TESTS_TESTING_RAW_HTTP2_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace verdict::testing {

enum class FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

inline constexpr uint8_t kFlagEndStream = 0x1;
inline constexpr uint8_t kFlagAck = 0x1;
inline constexpr uint8_t kFlagEndHeaders = 0x4;

inline constexpr uint16_t kSettingInitialWindowSize = 0x4;

struct Http2Frame {
  FrameType type;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  std::string payload;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What the server said on one stream.
struct StreamState {
  HeaderList headers;   // the first header block
  HeaderList trailers;  // a later one (or the first, when it ends the stream)
  std::string data;     // DATA payloads, concatenated
  std::optional<uint32_t> rst_code;
  bool ended = false;  // END_STREAM seen or RST_STREAM

  // The value of `name` in the trailers, then the headers; "" when absent.
  std::string Header(std::string_view name) const;
};

// A gRPC length-prefixed message: the compressed flag, a four-byte
// big-endian length (`declared_length` when given, which may lie), then
// `payload`.
std::string GrpcMessage(std::string_view payload, bool compressed = false,
                        std::optional<uint32_t> declared_length = {});

class RawHttp2Connection {
 public:
  // Connects to "127.0.0.1:PORT" (IPv4 only).
  static absl::StatusOr<std::unique_ptr<RawHttp2Connection>> Connect(
      const std::string& address);

  RawHttp2Connection(const RawHttp2Connection&) = delete;
  RawHttp2Connection& operator=(const RawHttp2Connection&) = delete;
  ~RawHttp2Connection();

  // The client connection preface alone; a real client follows it with
  // SendSettings().
  absl::Status SendPreface();
  absl::Status SendSettings(
      const std::vector<std::pair<uint16_t, uint32_t>>& settings = {});
  absl::Status SendFrame(FrameType type, uint8_t flags, uint32_t stream_id,
                         std::string_view payload);
  // HEADERS (END_HEADERS) for a gRPC POST of `path`, plus `extra` fields.
  absl::Status SendHeaders(uint32_t stream_id, std::string_view path,
                           const HeaderList& extra = {},
                           bool end_stream = false);
  // DATA frames of at most 16 KiB each, ignoring flow control.
  absl::Status SendData(uint32_t stream_id, std::string_view data,
                        bool end_stream = false);
  absl::Status SendWindowUpdate(uint32_t stream_id, uint32_t increment);

  // Reads until the server's SETTINGS has arrived (and been ACKed) and the
  // server has ACKed ours, so that its limits apply to what follows.
  absl::Status AwaitSettings(absl::Time deadline);

  // Sends `total` bytes of zeros (or `data`) on the stream as DATA, never
  // past the server's windows, reading frames while it waits for
  // WINDOW_UPDATEs. Stops at `deadline`, or when the stream is reset or the
  // connection closes. Returns the bytes sent.
  int64_t SendFlowControlled(uint32_t stream_id, int64_t total,
                             absl::Time deadline);
  int64_t SendFlowControlled(uint32_t stream_id, std::string_view data,
                             bool end_stream, absl::Time deadline);

  // Stream ids for new streams: 1, 3, 5, ...
  uint32_t NextStreamId() {
    const uint32_t id = next_stream_id_;
    next_stream_id_ += 2;
    return id;
  }

  // Reads and handles one frame. DeadlineExceeded when none arrived in
  // time; Unavailable once the server closed the connection.
  absl::StatusOr<Http2Frame> ReadFrame(absl::Time deadline);
  // Reads frames until the stream has ended (true) or the deadline passes
  // or the connection closes (false).
  bool ReadUntilEnded(uint32_t stream_id, absl::Time deadline);
  // Reads (and discards) frames until the server closes the connection
  // (true) or the deadline passes (false).
  bool WaitForClose(absl::Time deadline);

  const StreamState& stream(uint32_t id) { return streams_[id]; }
  bool closed() const { return closed_; }
  std::optional<uint32_t> goaway_code() const { return goaway_code_; }
  // Replenishes the connection and stream windows as DATA is read.
  void set_auto_window_update(bool on) { auto_window_update_ = on; }
  int fd() const { return fd_; }

 private:
  explicit RawHttp2Connection(int fd) : fd_(fd) {}
  absl::Status Write(std::string_view bytes);
  absl::Status Handle(const Http2Frame& frame);
  absl::Status DecodeHeaderBlock(std::string_view block, HeaderList* out);

  int fd_;
  std::string read_buffer_;
  uint32_t next_stream_id_ = 1;
  bool closed_ = false;
  bool auto_window_update_ = false;
  std::optional<uint32_t> goaway_code_;
  int64_t SendWithin(uint32_t stream_id, int64_t total, std::string_view data,
                     bool end_stream, absl::Time deadline);

  bool settings_received_ = false;
  bool settings_acked_ = false;
  int64_t peer_initial_window_ = 65535;
  int64_t connection_window_ = 65535;
  std::map<uint32_t, int64_t> stream_window_delta_;  // vs the initial window
  std::map<uint32_t, StreamState> streams_;
  // HPACK decoder state for the server's header blocks.
  std::vector<std::pair<std::string, std::string>>
      dynamic_table_;  // newest first
  size_t dynamic_table_size_ = 0;
  size_t dynamic_table_max_ = 4096;
  uint32_t continued_stream_ = 0;  // a header block awaiting CONTINUATION
  std::string continued_block_;
  uint8_t continued_flags_ = 0;
};

}  // namespace verdict::testing

#endif  // VERDICT_TESTS_TESTING_RAW_HTTP2_H_
