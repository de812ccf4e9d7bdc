# Lo que comparten todas las páginas: el marco, entrar y salir, los errores.
product-name = Campañas
brand = Campañas de WhatsApp
skip-to-content = Saltar al contenido
nav-label = Principal
nav-campaigns = Campañas
nav-contacts = Contactos
nav-settings = Ajustes
nav-operations = Operaciones
signed-in-as = Sesión iniciada como
role-admin = administrador
role-operator = operador
sign-out = Cerrar sesión
sign-out-everywhere = Cerrar sesión en todas partes
sign-out-everywhere-confirm = ¿Cerrar la sesión en todos los navegadores donde la has iniciado?
signed-out = Has cerrado la sesión.
signed-out-everywhere = Has cerrado la sesión en todos los navegadores ({ $count ->
    [one] 1 sesión
   *[other] { $count } sesiones
}).
sign-in = Entrar
sign-in-heading = Entrar en Campañas
there-is-a-problem = Hay un problema
email = Correo electrónico
password = Contraseña
accounts-created-by-admin = Las cuentas las crea un administrador de tu organización.
sign-in-unusable-characters = El correo o la contraseña contienen caracteres que no se pueden usar.
sign-in-throttled = Demasiados intentos fallidos. Espera { $minutes } minutos y vuelve a intentarlo.
sign-in-refused = El correo o la contraseña no son correctos.
csrf-refused = Este formulario ha caducado o no viene de esta consola. Vuelve atrás, recarga la página e inténtalo de nuevo.
not-done = No se ha hecho: { $message } ({ $code })
error-title = Error { $status }
error-heading = Algo ha ido mal
error-code = Código de error:
back-to-campaigns = Volver a las campañas
contacts-count = { $count ->
    [one] 1 contacto
   *[other] { $count } contactos
}
