"""The configuration a simulator starts from: a small PA-VM firewall (one vsys), or a Panorama with device groups."""
from lxml import etree

from tests.simulators.panos.xmlapi import safe_parser

# The one administrator, in either configuration.
ADMIN = """<users>
      <entry name="{username}">
        <permissions><role-based><superuser>yes</superuser></role-based></permissions>
      </entry>
    </users>"""
INITIAL_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks" detail-version="10.2.9">
  <mgt-config>
    {admin}
    <password-complexity><enabled>yes</enabled><minimum-length>8</minimum-length></password-complexity>
  </mgt-config>
  <shared>
    <application/>
    <application-group/>
    <service/>
    <service-group/>
    <botnet>
      <configuration>
        <http>
          <dynamic-dns><enabled>yes</enabled><threshold>5</threshold></dynamic-dns>
          <malware-sites><enabled>yes</enabled><threshold>5</threshold></malware-sites>
        </http>
        <other-applications><irc>yes</irc></other-applications>
        <unknown-applications>
          <unknown-tcp><destinations-per-hour>10</destinations-per-hour><sessions-per-hour>10</sessions-per-hour>
            <session-length><maximum-bytes>100</maximum-bytes><minimum-bytes>50</minimum-bytes></session-length>
          </unknown-tcp>
        </unknown-applications>
      </configuration>
      <report><topn>100</topn><scheduled>yes</scheduled></report>
    </botnet>
  </shared>
  <devices>
    <entry name="localhost.localdomain">
      <network>
        <interface>
          <ethernet>
            <entry name="ethernet1/1"><layer3><ip><entry name="192.0.2.1/24"/></ip></layer3></entry>
            <entry name="ethernet1/2"><layer3><ip><entry name="198.51.100.1/24"/></ip></layer3></entry>
            <entry name="ethernet1/3"><layer3><ip><entry name="203.0.113.1/24"/></ip></layer3></entry>
          </ethernet>
        </interface>
        <virtual-router>
          <entry name="default">
            <interface><member>ethernet1/1</member><member>ethernet1/2</member><member>ethernet1/3</member></interface>
            <routing-table><ip><static-route>
              <entry name="default-route"><nexthop><ip-address>198.51.100.254</ip-address></nexthop>
                <interface>ethernet1/2</interface><destination>0.0.0.0/0</destination></entry>
            </static-route></ip></routing-table>
          </entry>
        </virtual-router>
        <profiles><interface-management-profile/></profiles>
      </network>
      <deviceconfig>
        <system>
          <hostname>{hostname}</hostname>
          <type><dhcp-client><send-hostname>yes</send-hostname><send-client-id>no</send-client-id>
            <accept-dhcp-hostname>no</accept-dhcp-hostname><accept-dhcp-domain>no</accept-dhcp-domain>
          </dhcp-client></type>
          <update-server>updates.paloaltonetworks.com</update-server>
          <update-schedule><threats><recurring><weekly><day-of-week>wednesday</day-of-week><at>01:02</at>
            <action>download-only</action></weekly></recurring></threats></update-schedule>
          <timezone>UTC</timezone>
          <service><disable-telnet>yes</disable-telnet><disable-http>yes</disable-http></service>
          <dns-setting><servers><primary>192.0.2.53</primary></servers></dns-setting>
          <ntp-servers><primary-ntp-server><ntp-server-address>pool.ntp.org</ntp-server-address>
          </primary-ntp-server></ntp-servers>
          <login-banner/>
        </system>
        <setting>
          <config><rematch>yes</rematch></config>
          <management><hostname-type-in-syslog>FQDN</hostname-type-in-syslog></management>
          <auto-mac-detect>yes</auto-mac-detect>
        </setting>
      </deviceconfig>
      <vsys>
        <entry name="vsys1">
          <application/>
          <application-group/>
          <zone>
            <entry name="trust"><network><layer3><member>ethernet1/1</member></layer3></network></entry>
            <entry name="untrust"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
            <entry name="dmz"><network><layer3><member>ethernet1/3</member></layer3></network></entry>
          </zone>
          <service/>
          <service-group/>
          <schedule/>
          <rulebase>
            <security><rules/></security>
          </rulebase>
          <import>
            <network>
              <interface><member>ethernet1/1</member><member>ethernet1/2</member><member>ethernet1/3</member></interface>
            </network>
          </import>
          <tag/>
          <address/>
          <address-group/>
        </entry>
      </vsys>
    </entry>
  </devices>
</config>
"""


# A Panorama (M-series / Panorama VM): shared objects and policy, and device groups with their own objects and
# pre-/post-rulebases. Zones belong to templates, which this simulator does not model.
PANORAMA_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks" detail-version="10.2.9">
  <mgt-config>
    {admin}
  </mgt-config>
  <shared>
    <tag/>
    <address/>
    <address-group/>
    <service/>
    <service-group/>
    <pre-rulebase><security><rules/></security></pre-rulebase>
    <post-rulebase><security><rules/></security></post-rulebase>
  </shared>
  <devices>
    <entry name="localhost.localdomain">
      <deviceconfig><system><hostname>{hostname}</hostname><timezone>UTC</timezone></system></deviceconfig>
      <device-group>{device_groups}</device-group>
    </entry>
  </devices>
</config>
"""
DEVICE_GROUP = """
        <entry name="{name}">
          <tag/>
          <address/>
          <address-group/>
          <pre-rulebase><security><rules/></security></pre-rulebase>
          <post-rulebase><security><rules/></security></post-rulebase>
          <devices/>
        </entry>"""


def initial_config(username, hostname, device_groups=None):
    """The starting configuration as an element: a firewall's, or a Panorama's when *device_groups* is given."""
    admin = ADMIN.format(username=username)
    if device_groups is None:
        text = INITIAL_CONFIG.format(admin=admin, hostname=hostname)
    else:
        text = PANORAMA_CONFIG.format(admin=admin, hostname=hostname, device_groups="".join(
            DEVICE_GROUP.format(name=name) for name in device_groups))
    return etree.fromstring(text.encode("utf-8"), safe_parser())
