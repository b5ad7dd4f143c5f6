# docs.cmake - writes the package's documentation from the binary itself, so it cannot drift
# from the code: each command's --help as /usr/share/doc/phonereport/phonereport[-CMD].txt,
# the same texts as the man page phonereport(1), and the compressed changelog.
#   cmake -DPHONEREPORT=path/to/phonereport -DCHANGELOG=debian/changelog -DOUT=dir -P docs.cmake
# The commands are the ones `phonereport --help` lists.
foreach(v PHONEREPORT CHANGELOG OUT)
  if(NOT ${v})
    message(FATAL_ERROR "docs.cmake: -D${v}= is required")
  endif()
endforeach()

function(help_of out_var)
  execute_process(COMMAND ${PHONEREPORT} ${ARGN} --help OUTPUT_VARIABLE text
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR text STREQUAL "")
    message(FATAL_ERROR "docs.cmake: `phonereport ${ARGN} --help` failed (${rc}): ${err}")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# Text for a no-fill block of roff: backslashes and leading dots or quotes escaped, '-' as
# the ASCII minus that options need when copied from the page.
function(roff_literal out_var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT}/doc ${OUT}/man)
execute_process(COMMAND ${PHONEREPORT} --version OUTPUT_VARIABLE version
  OUTPUT_STRIP_TRAILING_WHITESPACE)

help_of(top)
file(WRITE ${OUT}/doc/phonereport.txt "${top}")
string(REGEX MATCH "commands:\n(  [a-z]+ [^\n]*\n)+" listed "${top}")
string(REGEX MATCHALL "\n  [a-z]+ " cmds "${listed}")
list(TRANSFORM cmds STRIP)
if(NOT cmds)
  message(FATAL_ERROR "docs.cmake: `phonereport --help` lists no commands")
endif()

roff_literal(top_roff "${top}")
set(man ".TH PHONEREPORT 1 \"\" \"${version}\" \"User Commands\"
.SH NAME
phonereport \\- collects Cisco MPP phone reports through Kafka into a queryable state
.SH SYNOPSIS
.B phonereport
.I command
.RI [ options ]
.SH DESCRIPTION
.nf
${top_roff}.fi
.SH COMMANDS
")
foreach(cmd ${cmds})
  help_of(text ${cmd})
  file(WRITE ${OUT}/doc/phonereport-${cmd}.txt "${text}")
  roff_literal(text "${text}")
  string(APPEND man ".SS phonereport ${cmd}\n.nf\n${text}.fi\n")
endforeach()
string(APPEND man ".SH FILES
.TP
.I /etc/phonereport/ingest.json, decode.json, sink.json
the roles' configuration files (\\fB\\-\\-config\\fR) read by the systemd units
.TP
.I /var/lib/phonereport
the sink's SQLite store
.TP
.I /lib/systemd/system/phonereport\\-ingest.service, phonereport\\-decode@.service, phonereport\\-sink.service
one unit per role
.SH SEE ALSO
.I /usr/share/doc/phonereport/
")
file(WRITE ${OUT}/man/phonereport.1 "${man}")

# gzip -9n: no name or time stamp in the header, so that the package is reproducible.
execute_process(COMMAND gzip -9nc ${OUT}/man/phonereport.1 OUTPUT_FILE ${OUT}/man/phonereport.1.gz
  RESULT_VARIABLE rc1)
execute_process(COMMAND gzip -9nc ${CHANGELOG} OUTPUT_FILE ${OUT}/doc/changelog.gz
  RESULT_VARIABLE rc2)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "docs.cmake: gzip failed")
endif()
file(REMOVE ${OUT}/man/phonereport.1)
