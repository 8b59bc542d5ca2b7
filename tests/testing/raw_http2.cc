#include "tests/testing/raw_http2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace verdict::testing {
namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kMaxDataFrame = 16384;

// RFC 7541 appendix A.
constexpr std::pair<const char*, const char*> kStaticTable[] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
constexpr size_t kStaticTableSize = std::size(kStaticTable);

void PutUint32(uint32_t value, std::string* out) {
  out->push_back(static_cast<char>(value >> 24));
  out->push_back(static_cast<char>(value >> 16));
  out->push_back(static_cast<char>(value >> 8));
  out->push_back(static_cast<char>(value));
}

uint32_t GetUint32(std::string_view bytes) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(bytes[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(bytes[3]));
}

// RFC 7541 5.1.
void PutHpackInteger(uint64_t value, int prefix_bits, uint8_t first,
                     std::string* out) {
  const uint64_t max_prefix = (1u << prefix_bits) - 1;
  if (value < max_prefix) {
    out->push_back(static_cast<char>(first | value));
    return;
  }
  out->push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// A string literal, never Huffman-coded.
void PutHpackString(std::string_view text, std::string* out) {
  PutHpackInteger(text.size(), 7, 0x00, out);
  out->append(text);
}

// A literal header field without indexing, new name (RFC 7541 6.2.2).
void PutLiteralField(std::string_view name, std::string_view value,
                     std::string* out) {
  out->push_back(0x00);
  PutHpackString(name, out);
  PutHpackString(value, out);
}

class HpackReader {
 public:
  explicit HpackReader(std::string_view block) : rest_(block) {}
  bool done() const { return rest_.empty(); }
  uint8_t Peek() const { return static_cast<uint8_t>(rest_[0]); }

  absl::StatusOr<uint64_t> Integer(int prefix_bits) {
    if (rest_.empty()) return absl::DataLossError("hpack: truncated integer");
    const uint64_t max_prefix = (1u << prefix_bits) - 1;
    uint64_t value = static_cast<uint8_t>(rest_[0]) & max_prefix;
    rest_.remove_prefix(1);
    if (value < max_prefix) return value;
    for (int shift = 0; shift < 56; shift += 7) {
      if (rest_.empty()) return absl::DataLossError("hpack: truncated integer");
      const uint8_t byte = static_cast<uint8_t>(rest_[0]);
      rest_.remove_prefix(1);
      value += static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return absl::DataLossError("hpack: integer too long");
  }

  absl::StatusOr<std::string> String() {
    if (rest_.empty()) return absl::DataLossError("hpack: truncated string");
    const bool huffman = (Peek() & 0x80) != 0;
    absl::StatusOr<uint64_t> length = Integer(7);
    if (!length.ok()) return length.status();
    if (*length > rest_.size()) {
      return absl::DataLossError("hpack: truncated string");
    }
    std::string text(rest_.substr(0, *length));
    rest_.remove_prefix(*length);
    return huffman ? std::string("<huffman>") : text;
  }

 private:
  std::string_view rest_;
};

}  // namespace

std::string StreamState::Header(std::string_view name) const {
  for (const HeaderList* list : {&trailers, &headers}) {
    for (const auto& [key, value] : *list) {
      if (key == name) return value;
    }
  }
  return "";
}

std::string GrpcMessage(std::string_view payload, bool compressed,
                        std::optional<uint32_t> declared_length) {
  std::string out;
  out.push_back(compressed ? 1 : 0);
  PutUint32(declared_length.value_or(static_cast<uint32_t>(payload.size())),
            &out);
  out.append(payload);
  return out;
}

absl::StatusOr<std::unique_ptr<RawHttp2Connection>> RawHttp2Connection::Connect(
    const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", address));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) !=
      1) {
    return absl::InvalidArgumentError(absl::StrCat("bad host in ", address));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect ", address, ": ", strerror(error)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<RawHttp2Connection>(new RawHttp2Connection(fd));
}

RawHttp2Connection::~RawHttp2Connection() { close(fd_); }

absl::Status RawHttp2Connection::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      closed_ = true;
      return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status RawHttp2Connection::SendPreface() { return Write(kPreface); }

absl::Status RawHttp2Connection::SendSettings(
    const std::vector<std::pair<uint16_t, uint32_t>>& settings) {
  std::string payload;
  for (const auto& [id, value] : settings) {
    payload.push_back(static_cast<char>(id >> 8));
    payload.push_back(static_cast<char>(id));
    PutUint32(value, &payload);
  }
  return SendFrame(FrameType::kSettings, 0, 0, payload);
}

absl::Status RawHttp2Connection::SendFrame(FrameType type, uint8_t flags,
                                           uint32_t stream_id,
                                           std::string_view payload) {
  std::string frame;
  frame.reserve(9 + payload.size());
  const auto length = static_cast<uint32_t>(payload.size());
  frame.push_back(static_cast<char>(length >> 16));
  frame.push_back(static_cast<char>(length >> 8));
  frame.push_back(static_cast<char>(length));
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  PutUint32(stream_id & 0x7fffffffu, &frame);
  frame.append(payload);
  return Write(frame);
}

absl::Status RawHttp2Connection::SendHeaders(uint32_t stream_id,
                                             std::string_view path,
                                             const HeaderList& extra,
                                             bool end_stream) {
  std::string block;
  PutLiteralField(":method", "POST", &block);
  PutLiteralField(":scheme", "http", &block);
  PutLiteralField(":path", path, &block);
  PutLiteralField(":authority", "localhost", &block);
  PutLiteralField("content-type", "application/grpc", &block);
  PutLiteralField("te", "trailers", &block);
  for (const auto& [name, value] : extra) PutLiteralField(name, value, &block);
  stream_window_delta_.emplace(stream_id, 0);
  return SendFrame(FrameType::kHeaders,
                   kFlagEndHeaders | (end_stream ? kFlagEndStream : 0),
                   stream_id, block);
}

absl::Status RawHttp2Connection::SendData(uint32_t stream_id,
                                          std::string_view data,
                                          bool end_stream) {
  do {
    const std::string_view chunk = data.substr(0, kMaxDataFrame);
    data.remove_prefix(chunk.size());
    const bool last = data.empty();
    if (absl::Status s =
            SendFrame(FrameType::kData, last && end_stream ? kFlagEndStream : 0,
                      stream_id, chunk);
        !s.ok()) {
      return s;
    }
    connection_window_ -= static_cast<int64_t>(chunk.size());
    stream_window_delta_[stream_id] -= static_cast<int64_t>(chunk.size());
  } while (!data.empty());
  return absl::OkStatus();
}

absl::Status RawHttp2Connection::SendWindowUpdate(uint32_t stream_id,
                                                  uint32_t increment) {
  std::string payload;
  PutUint32(increment, &payload);
  return SendFrame(FrameType::kWindowUpdate, 0, stream_id, payload);
}

absl::Status RawHttp2Connection::AwaitSettings(absl::Time deadline) {
  while (!settings_received_ || !settings_acked_) {
    absl::StatusOr<Http2Frame> frame = ReadFrame(deadline);
    if (!frame.ok()) return frame.status();
  }
  return absl::OkStatus();
}

int64_t RawHttp2Connection::SendFlowControlled(uint32_t stream_id,
                                               int64_t total,
                                               absl::Time deadline) {
  return SendWithin(stream_id, total, {}, false, deadline);
}

int64_t RawHttp2Connection::SendFlowControlled(uint32_t stream_id,
                                               std::string_view data,
                                               bool end_stream,
                                               absl::Time deadline) {
  return SendWithin(stream_id, static_cast<int64_t>(data.size()), data,
                    end_stream, deadline);
}

int64_t RawHttp2Connection::SendWithin(uint32_t stream_id, int64_t total,
                                       std::string_view data, bool end_stream,
                                       absl::Time deadline) {
  static const std::string kZeros(kMaxDataFrame, '\0');
  int64_t sent = 0;
  while (sent < total && !closed_ && absl::Now() < deadline) {
    if (streams_[stream_id].ended) break;
    const int64_t window =
        std::min(connection_window_,
                 peer_initial_window_ + stream_window_delta_[stream_id]);
    if (window <= 0) {
      // Wait for a WINDOW_UPDATE (or anything else) from the server.
      absl::StatusOr<Http2Frame> frame =
          ReadFrame(std::min(deadline, absl::Now() + absl::Seconds(1)));
      if (!frame.ok() && !absl::IsDeadlineExceeded(frame.status())) break;
      continue;
    }
    const int64_t n = std::min<int64_t>(
        {window, total - sent, static_cast<int64_t>(kMaxDataFrame)});
    const std::string_view chunk =
        data.empty() ? std::string_view(kZeros).substr(0, n)
                     : data.substr(static_cast<size_t>(sent), n);
    if (!SendData(stream_id, chunk, end_stream && sent + n == total).ok()) {
      break;
    }
    sent += n;
    // Keep the socket drained so the server never blocks writing to us.
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) break;
      if (!ReadFrame(absl::Now()).ok()) break;
    }
  }
  return sent;
}

absl::StatusOr<Http2Frame> RawHttp2Connection::ReadFrame(absl::Time deadline) {
  while (true) {
    if (read_buffer_.size() >= 9) {
      const uint32_t length =
          (static_cast<uint32_t>(static_cast<uint8_t>(read_buffer_[0])) << 16) |
          (static_cast<uint32_t>(static_cast<uint8_t>(read_buffer_[1])) << 8) |
          static_cast<uint32_t>(static_cast<uint8_t>(read_buffer_[2]));
      if (read_buffer_.size() >= 9 + length) {
        Http2Frame frame{
            .type = static_cast<FrameType>(read_buffer_[3]),
            .flags = static_cast<uint8_t>(read_buffer_[4]),
            .stream_id = GetUint32(std::string_view(read_buffer_).substr(5)) &
                         0x7fffffffu,
            .payload = read_buffer_.substr(9, length),
        };
        read_buffer_.erase(0, 9 + length);
        if (absl::Status s = Handle(frame); !s.ok()) return s;
        return frame;
      }
    }
    if (closed_) return absl::UnavailableError("connection closed");
    const absl::Duration left = deadline - absl::Now();
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1,
                           static_cast<int>(std::max<int64_t>(
                               0, absl::ToInt64Milliseconds(left))));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return absl::DeadlineExceededError("no frame");
    char buffer[65536];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      return absl::UnavailableError("connection closed");
    }
    read_buffer_.append(buffer, static_cast<size_t>(n));
  }
}

absl::Status RawHttp2Connection::Handle(const Http2Frame& frame) {
  switch (frame.type) {
    case FrameType::kSettings: {
      if ((frame.flags & kFlagAck) != 0) {
        settings_acked_ = true;
        return absl::OkStatus();
      }
      settings_received_ = true;
      for (size_t i = 0; i + 6 <= frame.payload.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>(
            (static_cast<uint8_t>(frame.payload[i]) << 8) |
            static_cast<uint8_t>(frame.payload[i + 1]));
        const uint32_t value =
            GetUint32(std::string_view(frame.payload).substr(i + 2));
        if (id == kSettingInitialWindowSize) peer_initial_window_ = value;
      }
      return SendFrame(FrameType::kSettings, kFlagAck, 0, "");
    }
    case FrameType::kPing:
      if ((frame.flags & kFlagAck) != 0) return absl::OkStatus();
      return SendFrame(FrameType::kPing, kFlagAck, 0, frame.payload);
    case FrameType::kWindowUpdate: {
      if (frame.payload.size() < 4) return absl::OkStatus();
      const int64_t increment = GetUint32(frame.payload) & 0x7fffffffu;
      if (frame.stream_id == 0) {
        connection_window_ += increment;
      } else {
        stream_window_delta_[frame.stream_id] += increment;
      }
      return absl::OkStatus();
    }
    case FrameType::kGoAway:
      if (frame.payload.size() >= 8) {
        goaway_code_ = GetUint32(std::string_view(frame.payload).substr(4));
      }
      return absl::OkStatus();
    case FrameType::kRstStream: {
      StreamState& state = streams_[frame.stream_id];
      if (frame.payload.size() >= 4) state.rst_code = GetUint32(frame.payload);
      state.ended = true;
      return absl::OkStatus();
    }
    case FrameType::kData: {
      StreamState& state = streams_[frame.stream_id];
      state.data.append(frame.payload);
      if ((frame.flags & kFlagEndStream) != 0) state.ended = true;
      if (auto_window_update_ && !frame.payload.empty()) {
        const auto n = static_cast<uint32_t>(frame.payload.size());
        if (absl::Status s = SendWindowUpdate(0, n); !s.ok()) return s;
        return SendWindowUpdate(frame.stream_id, n);
      }
      return absl::OkStatus();
    }
    case FrameType::kHeaders:
    case FrameType::kContinuation: {
      std::string_view fragment = frame.payload;
      if (frame.type == FrameType::kHeaders) {
        uint8_t pad = 0;
        if ((frame.flags & 0x8) != 0 && !fragment.empty()) {  // PADDED
          pad = static_cast<uint8_t>(fragment[0]);
          fragment.remove_prefix(1);
        }
        if ((frame.flags & 0x20) != 0 && fragment.size() >= 5) {  // PRIORITY
          fragment.remove_prefix(5);
        }
        fragment.remove_suffix(std::min<size_t>(pad, fragment.size()));
        continued_stream_ = frame.stream_id;
        continued_flags_ = frame.flags;
        continued_block_.assign(fragment);
      } else {
        continued_block_.append(fragment);
      }
      if ((frame.flags & kFlagEndHeaders) == 0) return absl::OkStatus();
      StreamState& state = streams_[continued_stream_];
      HeaderList fields;
      absl::Status decoded = DecodeHeaderBlock(continued_block_, &fields);
      const bool first = state.headers.empty();
      const bool ends = (continued_flags_ & kFlagEndStream) != 0;
      (first && !ends ? state.headers : state.trailers) = std::move(fields);
      if (ends) state.ended = true;
      return decoded;
    }
  }
  return absl::OkStatus();
}

absl::Status RawHttp2Connection::DecodeHeaderBlock(std::string_view block,
                                                   HeaderList* out) {
  HpackReader reader(block);
  auto lookup = [&](uint64_t index)
      -> absl::StatusOr<std::pair<std::string, std::string>> {
    if (index >= 1 && index <= kStaticTableSize) {
      return std::pair<std::string, std::string>(
          kStaticTable[index - 1].first, kStaticTable[index - 1].second);
    }
    const uint64_t dynamic = index - kStaticTableSize - 1;
    if (index > kStaticTableSize && dynamic < dynamic_table_.size()) {
      return dynamic_table_[dynamic];
    }
    return absl::DataLossError(absl::StrCat("hpack: bad index ", index));
  };
  auto evict = [&] {
    while (dynamic_table_size_ > dynamic_table_max_ &&
           !dynamic_table_.empty()) {
      dynamic_table_size_ -= dynamic_table_.back().first.size() +
                             dynamic_table_.back().second.size() + 32;
      dynamic_table_.pop_back();
    }
  };
  while (!reader.done()) {
    const uint8_t first = reader.Peek();
    if ((first & 0x80) != 0) {  // indexed field
      absl::StatusOr<uint64_t> index = reader.Integer(7);
      if (!index.ok()) return index.status();
      auto field = lookup(*index);
      if (!field.ok()) return field.status();
      out->push_back(*std::move(field));
      continue;
    }
    if ((first & 0xe0) == 0x20) {  // dynamic table size update
      absl::StatusOr<uint64_t> size = reader.Integer(5);
      if (!size.ok()) return size.status();
      dynamic_table_max_ = *size;
      evict();
      continue;
    }
    const bool indexing = (first & 0xc0) == 0x40;
    absl::StatusOr<uint64_t> name_index = reader.Integer(indexing ? 6 : 4);
    if (!name_index.ok()) return name_index.status();
    std::string name;
    if (*name_index == 0) {
      absl::StatusOr<std::string> literal = reader.String();
      if (!literal.ok()) return literal.status();
      name = *std::move(literal);
    } else {
      auto field = lookup(*name_index);
      if (!field.ok()) return field.status();
      name = field->first;
    }
    absl::StatusOr<std::string> value = reader.String();
    if (!value.ok()) return value.status();
    if (indexing) {
      dynamic_table_.insert(dynamic_table_.begin(), {name, *value});
      dynamic_table_size_ += name.size() + value->size() + 32;
      evict();
    }
    out->emplace_back(std::move(name), *std::move(value));
  }
  return absl::OkStatus();
}

bool RawHttp2Connection::ReadUntilEnded(uint32_t stream_id,
                                        absl::Time deadline) {
  while (!streams_[stream_id].ended) {
    if (!ReadFrame(deadline).ok()) return streams_[stream_id].ended;
  }
  return true;
}

bool RawHttp2Connection::WaitForClose(absl::Time deadline) {
  while (!closed_) {
    absl::StatusOr<Http2Frame> frame = ReadFrame(deadline);
    if (!frame.ok() && absl::IsDeadlineExceeded(frame.status())) return false;
  }
  return true;
}

}  // namespace verdict::testing
