#include "server/audit/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace verdict::audit {
namespace {

constexpr uint64_t kMagic = 0x314c4e524a445256;  // "VRDJRNL1"
constexpr size_t kHeaderBytes = 4096;            // one page, then the ring
constexpr size_t kMinCapacity = 1 << 20;
constexpr size_t kRecordHeaderBytes = 16;  // tag, then the length
constexpr uint64_t kTagMark = uint64_t{0xff} << 56;

size_t Footprint(size_t payload) {
  return kRecordHeaderBytes + ((payload + 7) & ~size_t{7});
}

uint64_t Load64(const char* p) {
  uint64_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Reads exactly `size` bytes at `offset`; false on a short read.
bool ReadFully(int fd, char* out, size_t size, off_t offset) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, offset);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    out += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return true;
}

}  // namespace

struct JournalHeader {
  uint64_t magic;
  uint64_t capacity;
  alignas(64) uint64_t reserved;  // producers' compare-and-swap
  alignas(64) uint64_t released;  // the consumer's
  // NoteWrite(): about the records from `write_from` (a released position).
  uint64_t write_file;
  uint64_t write_offset;
  uint64_t write_from;
};
static_assert(std::atomic_ref<uint64_t>::is_always_lock_free);

namespace {

// What the journal open as `fd` holds; records are appended to `*records`.
absl::StatusOr<JournalRecovery> ReadJournal(int fd, const std::string& path,
                                            std::string* records) {
  JournalRecovery recovery;
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno("cannot read the journal", path);
  if (st.st_size == 0) return recovery;  // new
  JournalHeader header;
  if (!ReadFully(fd, reinterpret_cast<char*>(&header), sizeof(header), 0)) {
    return absl::DataLossError(absl::StrCat(path, " is not a journal"));
  }
  const uint64_t capacity = header.capacity;
  if (header.magic != kMagic || capacity < kMinCapacity ||
      !std::has_single_bit(capacity) ||
      static_cast<uint64_t>(st.st_size) != kHeaderBytes + capacity ||
      header.released > header.reserved ||
      header.reserved - header.released > capacity) {
    return absl::DataLossError(
        absl::StrCat(path, " is not a journal this verdictd wrote"));
  }
  if (header.released == header.reserved) return recovery;
  // A note written for an earlier release is stale: its records are done.
  recovery.write_noted = header.write_from == header.released;
  recovery.write_file = header.write_file;
  recovery.write_offset = header.write_offset;
  // Twice over, like the mapping, so a record that wraps is contiguous.
  std::string ring(2 * capacity, '\0');
  if (!ReadFully(fd, ring.data(), capacity, kHeaderBytes)) {
    return absl::DataLossError(absl::StrCat(path, " is truncated"));
  }
  std::memcpy(ring.data() + capacity, ring.data(), capacity);
  const uint64_t mask = capacity - 1;
  bool in_gap = false;
  for (uint64_t at = header.released; at < header.reserved;) {
    const char* p = ring.data() + (at & mask);
    if (Load64(p) == (kTagMark | at)) {
      const uint64_t length = Load64(p + 8);
      if (length >= 1 && length <= Journal::kMaxRecordBytes + 1 &&
          at + Footprint(length) <= header.reserved &&
          p[kRecordHeaderBytes + length - 1] == '\n') {
        records->append(p + kRecordHeaderBytes, length);
        ++recovery.records;
        in_gap = false;
        at += Footprint(length);
        continue;
      }
    }
    // A reservation that was never committed: step to the next tag.
    if (!in_gap) ++recovery.unfinished;
    in_gap = true;
    at += 8;
  }
  return recovery;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(
    const std::string& path, size_t capacity, const Recoverer& recover) {
  static_assert(sizeof(JournalHeader) <= kHeaderBytes);
  capacity = std::bit_ceil(std::max(capacity, kMinCapacity));
  const int fd = path.empty()
                     ? ::memfd_create("verdict-journal", MFD_CLOEXEC)
                     : ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot open the journal", path);
  // Two writers on one journal would overwrite each other's records, and
  // emptying it under a live one would crash that one (SIGBUS).
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the journal ", path,
          " is in use: another verdictd writes this decision log"));
    }
    errno = error;
    return Errno("cannot lock the journal", path);
  }
  if (!path.empty()) {
    std::string records;
    absl::StatusOr<JournalRecovery> found = ReadJournal(fd, path, &records);
    if (!found.ok()) {
      ::close(fd);
      return found.status();
    }
    if ((found->records > 0 || found->unfinished > 0) &&
        !recover(*found, records)) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("the records recovered from ",
                                                 path, " could not be kept"));
    }
  }
  // Emptied first: no record of an earlier run may stay readable at a
  // position this run reuses. Allocated in full, so that a store into the
  // mapping can never meet a full disk (SIGBUS).
  if (::ftruncate(fd, 0) != 0) {
    absl::Status status = Errno("cannot truncate the journal", path);
    ::close(fd);
    return status;
  }
  if (const int error = ::posix_fallocate(fd, 0, kHeaderBytes + capacity);
      error != 0) {
    ::close(fd);
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate the journal ", path, ": ", std::strerror(error)));
  }
  void* header =
      ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (header == MAP_FAILED) {
    absl::Status status = Errno("cannot map the journal", path);
    ::close(fd);
    return status;
  }
  // The ring is mapped twice back to back, so a record that wraps around
  // the end is still one contiguous copy.
  void* base = ::mmap(nullptr, 2 * capacity, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  char* data = static_cast<char*>(base);
  bool mapped = base != MAP_FAILED;
  for (int copy = 0; mapped && copy < 2; ++copy) {
    mapped = ::mmap(data + copy * capacity, capacity, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_FIXED, fd, kHeaderBytes) != MAP_FAILED;
  }
  if (!mapped) {
    absl::Status status = Errno("cannot map the journal", path);
    if (base != MAP_FAILED) ::munmap(base, 2 * capacity);
    ::munmap(header, kHeaderBytes);
    ::close(fd);
    return status;
  }
  auto* h = static_cast<JournalHeader*>(header);
  h->capacity = capacity;
  std::atomic_ref<uint64_t>(h->magic).store(kMagic, std::memory_order_release);
  return std::unique_ptr<Journal>(new Journal(fd, capacity, h, data));
}

Journal::Journal(int fd, size_t capacity, JournalHeader* header, char* data)
    : fd_(fd), capacity_(capacity), header_(header), data_(data) {}

Journal::~Journal() {
  ::munmap(data_, 2 * capacity_);
  ::munmap(header_, kHeaderBytes);
  ::close(fd_);
}

bool Journal::Append(std::string_view record) {
  if (record.size() > kMaxRecordBytes) return false;
  const size_t length = record.size() + 1;
  const uint64_t need = Footprint(length);
  std::atomic_ref<uint64_t> reserved(header_->reserved);
  const std::atomic_ref<uint64_t> released(header_->released);
  uint64_t at = reserved.load(std::memory_order_relaxed);
  do {
    // Acquire: the consumer is done reading the space it gave back.
    if (at + need > released.load(std::memory_order_acquire) + capacity_) {
      return false;
    }
  } while (!reserved.compare_exchange_weak(at, at + need,
                                           std::memory_order_relaxed));
  char* p = data_ + (at & (capacity_ - 1));
  const uint64_t length_word = length;
  std::memcpy(p + 8, &length_word, sizeof(length_word));
  char* payload = p + kRecordHeaderBytes;
  std::memcpy(payload, record.data(), record.size());
  payload[record.size()] = '\n';
  std::memset(payload + length, 0, need - kRecordHeaderBytes - length);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p))
      .store(kTagMark | at, std::memory_order_release);
  return true;
}

bool Journal::Next(std::string_view* record) {
  char* p = data_ + (taken_ & (capacity_ - 1));
  const uint64_t tag =
      std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(p))
          .load(std::memory_order_acquire);
  if (tag != (kTagMark | taken_)) return false;
  const uint64_t length = Load64(p + 8);
  *record = std::string_view(p + kRecordHeaderBytes, length);
  taken_ += Footprint(length);
  return true;
}

void Journal::NoteWrite(uint64_t file, uint64_t offset) {
  header_->write_file = file;
  header_->write_offset = offset;
  // Last: until it names the current release point, the note is stale.
  std::atomic_ref<uint64_t>(header_->write_from)
      .store(last_release_, std::memory_order_release);
}

void Journal::Release() {
  last_release_ = taken_;
  std::atomic_ref<uint64_t>(header_->released)
      .store(taken_, std::memory_order_release);
}

uint64_t Journal::reserved() const {
  return std::atomic_ref<uint64_t>(header_->reserved)
      .load(std::memory_order_acquire);
}

uint64_t Journal::released() const {
  return std::atomic_ref<uint64_t>(header_->released)
      .load(std::memory_order_acquire);
}

}  // namespace verdict::audit
