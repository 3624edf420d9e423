"""The app catalogue the demo data installs: ~350 script slugs, most popular first.

Each slug has the script type its runs report (``ct/`` scripts are ``lxc``, ``vm/``
scripts ``vm``, host add-ons ``addon``, Proxmox host tools ``pve``). Popularity is
Zipf-like by position, so the head of the list gets most of the runs and the tail a
handful each, as in the real service.
"""

from __future__ import annotations

from dataclasses import dataclass

# "slug" is an LXC script; "slug:type" names another type. Ordered by popularity.
_CATALOGUE = """
homeassistant docker haos-vm:vm jellyfin adguard pihole vaultwarden plex
nginxproxymanager frigate post-pve-install:pve immich zigbee2mqtt mqtt node-red
paperless-ngx uptimekuma portainer:addon tailscale:addon cloudflared debian ubuntu
alpine grafana influxdb homebridge esphome wireguard jellyseerr sonarr radarr prowlarr
docker-vm:vm debian-vm:vm qbittorrent sabnzbd syncthing n8n gitea nextcloudpi mariadb
postgresql redis mealie actualbudget audiobookshelf navidrome emby tdarr unifi omada
authentik keycloak bookstack wikijs homarr heimdall-dashboard dashy homepage traccar
openwebui ollama filebrowser:addon netdata:addon glances:addon microcode:pve
update-lxcs:pve clean-lxcs:pve kernel-clean:pve host-backup:pve scaling-governor:pve
lidarr bazarr readarr whisparr overseerr tautulli transmission deluge nzbget
autobrr flaresolverr recyclarr unmanic handbrake:vm opnsense-vm:vm pfsense-vm:vm
mikrotik-routeros:vm ubuntu2404-vm:vm ubuntu2204-vm:vm debian-13-vm:vm umbrel-os-vm:vm
truenas-vm:vm openwrt-vm:vm nextcloud-vm:vm owncloud-vm:vm turnkey:turnkey
crowdsec:addon olivetin:addon webmin:addon coder-code-server:addon
add-iptag:pve frigate-support:pve monitor-all:pve pve-privilege-converter:pve
lxc-delete:pve container-restore-from-backup:pve fstrim:pve
alpine-docker alpine-grafana alpine-nextcloud alpine-vaultwarden alpine-zigbee2mqtt
alpine-adguard alpine-redis alpine-postgresql alpine-mariadb alpine-gitea alpine-it-tools
alpine-syncthing alpine-wireguard alpine-transmission alpine-tinyauth
2fauth adventurelog agentdvr apache-cassandra apache-couchdb apache-guacamole
apache-tika apt-cacher-ng archivebox aria2 asterisk autocaliweb babybuddy baikal
barcode-buddy beszel blocky bitmagnet bunkerweb caddy calibre-web casaos changedetection
channels checkmk cloudreve cockpit comfyui commafeed cosmos cronicle cryptpad daemonsync
dashdot databasus deconz dispatcharr docmost dockge dolibarr dotnetaspwebapi duplicati
elementsynapse emqx ersatztv evcc excalidraw fenrus fhem fileflows firefly flowiseai
fluid-calendar forgejo freshrss frigate-nvr gatus ghost gitea-mirror glance gladys
glpi go2rtc gokapi gotify grist grocy habitica headscale healthchecks hev-socks5-server
hivemq homebox hoodik hortusfox huntarr hyperhdr hyperion immich-public-proxy inspircd
inventree invoiceninja iobroker it-tools jackett jellystat jenkins joplin-server jupyternotebook
kavita kimai kometa komga kubo lazylibrarian leantime librespeed libretranslate lighttpd
linkding linkstack linkwarden listmonk lldap lubelogger mafl magicmirror manyfold matterbridge
mattermost mediamtx medusa meilisearch memos metube minarca minio monica motioneye
mongodb myspeed mylar3 mysql nocodb notifiarr npmplus ntfy nxwitness oauth2-proxy
octoprint odoo omv onedev onlyoffice open-archiver openhab openobserve opengist
ots outline owncast pairdrop paperless-ai paperless-gpt part-db passbolt patchmon peanut
pelican-panel pelican-wings petio photoprism phpipam pialert pimox-haos-vm:vm pingvin
planka plant-it pocketbase pocketid podman podman-homeassistant privatebin prometheus
prometheus-alertmanager prometheus-pve-exporter proxmox-backup-server proxmox-datacenter-manager
proxmox-mail-gateway ps5-mqtt pterodactyl-panel pterodactyl-wings qdrant rabbitmq
radicale rdtclient reactive-resume readeck redlib resiliosync revealjs rtsptoweb rustdeskserver
sabnzbd-plus salt searxng seelf semaphore sftpgo shinobi signoz silverbullet slskd smokeping
snipeit sonarqube spoolman sqlserver2022 stirling-pdf streamlink-webui stylus suwayomiserver
swizzin tandoor tasmoadmin tasmocompiler teddycloud termix the-lounge threadfin tianji
traefik trilium tunarr typesense umami umlautadaptarr upsnap urbackupserver valkey
verdaccio victoriametrics wallos wastebin watcharr watchyourlan wavelog web-check
wger whoogle wikijs-postgres wizarr wordpress yunohost zabbix zammad zerotier-one
zigbee2mqtt-edge zipline zitadel zoraxy zot-registry zwave-js-ui
arm64-docker:vm kali-vm:vm windows-11-vm:vm fedora-vm:vm rocky-vm:vm
nic-offloading-fix:pve pbs-microcode:pve pve-scripts-local:tool iptag:tool
"""


@dataclass(frozen=True, slots=True)
class App:
    slug: str
    type: str
    rank: int  # 0 is the most popular


def _parse(catalogue: str) -> tuple[App, ...]:
    apps: list[App] = []
    seen: set[str] = set()
    for token in catalogue.split():
        slug, _, script_type = token.partition(":")
        if slug in seen:
            raise ValueError(f"app {slug!r} listed twice")
        seen.add(slug)
        apps.append(App(slug, script_type or "lxc", len(apps)))
    return tuple(apps)


APPS = _parse(_CATALOGUE)
ZIPF_EXPONENT = 1.1


def popularity(app: App) -> float:
    """Relative weight of ``app`` (Zipf-like in its rank)."""
    return float(1.0 / (app.rank + 1) ** ZIPF_EXPONENT)
