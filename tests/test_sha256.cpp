#include <gtest/gtest.h>

#include <string>

#include "dalenet/error.hpp"
#include "data/sha256.hpp"
#include "helpers.hpp"

using dalenet::sha256_hex;

namespace {
std::string h(const std::string& s) {
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}
}  // namespace

// FIPS 180-4 / NIST example vectors.
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(h(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(h("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(h(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += static_cast<char>(i * 7);
  dalenet::Sha256 inc;
  for (std::size_t i = 0; i < s.size(); i += 13)
    inc.update({reinterpret_cast<const std::uint8_t*>(s.data()) + i, std::min<std::size_t>(13, s.size() - i)});
  EXPECT_EQ(inc.hex_digest(), h(s));
}

TEST(Sha256, FileHashEqualsBufferHash) {
  dalenet::test::TempDir dir;
  const std::vector<std::uint8_t> bytes = {1, 2, 3, 4, 5, 250, 0, 7};
  dalenet::test::write_bytes(dir / "f", bytes);
  EXPECT_EQ(dalenet::sha256_file(dir / "f"), sha256_hex(bytes));
  EXPECT_THROW(dalenet::sha256_file(dir / "missing"), dalenet::DataError);
}
