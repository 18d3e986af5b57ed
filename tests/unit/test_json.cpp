#include <gtest/gtest.h>

#include <cmath>

#include "sarscale/core/json.hpp"

using sarscale::json::Value;

TEST(Json, ObjectKeepsInsertionOrderAndEscapes) {
  Value v = Value::object();
  v["b"] = 1;
  v["a"] = "x\"y\n";
  v["list"].push_back(1.5);
  v["list"].push_back(nullptr);
  v["nan"] = std::nan("");
  EXPECT_EQ(v.dump(), R"({"b": 1, "a": "x\"y\n", "list": [1.5, null], "nan": null})");
}

TEST(Json, DoublesRoundTripShortest) {
  EXPECT_EQ(Value(0.1).dump(), "0.1");
  EXPECT_EQ(Value(1e-300).dump(), "1e-300");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::strtod(Value(third).dump().c_str(), nullptr), third);
}

TEST(Json, PrettyPrint) {
  Value v;
  v["k"]["n"] = 2;
  EXPECT_EQ(v.dump(2), "{\n  \"k\": {\n    \"n\": 2\n  }\n}");
}

TEST(Json, WrongKindThrows) {
  Value v = Value::array();
  EXPECT_THROW(v["x"], std::runtime_error);
}

// File names are bytes: `info --json` on a file named "a\xff\xfe.h5" must still print valid
// UTF-8, each stray byte as \udcXX (surrogateescape); well-formed UTF-8 passes unchanged.
TEST(Json, InvalidUtf8BytesAreEscaped) {
  EXPECT_EQ(sarscale::json::escape("a\xff\xfe.h5"), "a\\udcff\\udcfe.h5");
  EXPECT_EQ(sarscale::json::escape("Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x9a\x80"), "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x9a\x80");
  // A truncated sequence, an overlong form, an encoded surrogate, beyond U+10FFFF: bytes escaped one by one.
  EXPECT_EQ(sarscale::json::escape("x\xe2\x82"), "x\\udce2\\udc82");
  EXPECT_EQ(sarscale::json::escape("\xc0\xaf"), "\\udcc0\\udcaf");
  EXPECT_EQ(sarscale::json::escape("\xed\xa0\x80"), "\\udced\\udca0\\udc80");
  EXPECT_EQ(sarscale::json::escape("\xf4\x90\x80\x80"), "\\udcf4\\udc90\\udc80\\udc80");
  sarscale::json::Value v = sarscale::json::Value::object();
  v["archive"] = std::string("d/\xff\xfe.h5");
  EXPECT_EQ(v.dump(), "{\"archive\": \"d/\\udcff\\udcfe.h5\"}");
}
