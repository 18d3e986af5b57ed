# Installs the libraries, headers and the sarscale binary, and exports a CMake package
# so that `find_package(sarscale)` works after `cmake --install`.
include(CMakePackageConfigHelpers)
get_property(layers GLOBAL PROPERTY SARSCALE_LAYERS)
install(TARGETS ${layers} EXPORT sarscaleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS sarscale RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/sarscale DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/sarscale DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT sarscaleTargets NAMESPACE sarscale::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sarscale)
configure_package_config_file(cmake/sarscaleConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sarscaleConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sarscale)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sarscaleConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sarscaleConfig.cmake
              ${PROJECT_BINARY_DIR}/sarscaleConfigVersion.cmake
              cmake/SarscaleDependencies.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sarscale)
