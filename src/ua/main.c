/* mikeyua: the MIKEY-TICKET SIP user agent (ua.h). */
#include "ua.h"

int main(int argc, char **argv)
{
  return ua_main(argc, argv);
}
