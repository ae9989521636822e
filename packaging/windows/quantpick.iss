; Inno Setup 6 recipe for the Windows installer. Build the bundle first (python packaging\build.py), then:
;
;   iscc /DAppVersion=0.1.0 packaging\windows\quantpick.iss
;
; CI passes the version read from engine/version.py (the only place it is written). Output:
; dist\Quantpick-<version>-windows-x64-setup.exe. Per-user install by default (no admin prompt);
; the user may choose "all users" in the first dialog.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z (python -c "from engine.version import __version__; print(__version__)")
#endif

#define AppName "Quantpick"
#define AppExe "Quantpick.exe"
#define Root "..\.."

[Setup]
; Never change AppId: it is how upgrades and the uninstaller recognise an installed Quantpick.
AppId={{1BAE6844-A88A-49ED-8EFC-AB5BE8647714}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Quantpick contributors
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
SetupIconFile={#Root}\build\icons\quantpick.ico
UninstallDisplayIcon={app}\{#AppExe}
OutputDir={#Root}\dist
OutputBaseFilename=Quantpick-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "assocgguf"; Description: "Open .gguf models with Quantpick"; GroupDescription: "File types:"
Name: "assocsafetensors"; Description: "Open .safetensors weights with Quantpick"; GroupDescription: "File types:"; Flags: unchecked

[Files]
; The whole PyInstaller folder: Quantpick.exe (window), quantpick-cli.exe (commands), _internal\.
Source: "{#Root}\dist\quantpick\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; .gguf: a ProgID of our own, offered under "Open with" and made the default when nothing else claimed it.
Root: HKA; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "Quantpick.gguf"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocgguf
Root: HKA; Subkey: "Software\Classes\.gguf"; ValueType: string; ValueName: ""; ValueData: "Quantpick.gguf"; Flags: uninsdeletevalue createvalueifdoesntexist; Tasks: assocgguf
Root: HKA; Subkey: "Software\Classes\Quantpick.gguf"; ValueType: string; ValueName: ""; ValueData: "GGUF model"; Flags: uninsdeletekey; Tasks: assocgguf
Root: HKA; Subkey: "Software\Classes\Quantpick.gguf\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: assocgguf
Root: HKA; Subkey: "Software\Classes\Quantpick.gguf\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: assocgguf
; .safetensors: the same, opt-in.
Root: HKA; Subkey: "Software\Classes\.safetensors\OpenWithProgids"; ValueType: string; ValueName: "Quantpick.safetensors"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocsafetensors
Root: HKA; Subkey: "Software\Classes\Quantpick.safetensors"; ValueType: string; ValueName: ""; ValueData: "safetensors weights"; Flags: uninsdeletekey; Tasks: assocsafetensors
Root: HKA; Subkey: "Software\Classes\Quantpick.safetensors\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: assocsafetensors
Root: HKA; Subkey: "Software\Classes\Quantpick.safetensors\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: assocsafetensors
; "Open with" lists Quantpick for both types even when the tasks are off.
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".gguf"; ValueData: ""; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".safetensors"; ValueData: ""

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
