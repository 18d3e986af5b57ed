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
